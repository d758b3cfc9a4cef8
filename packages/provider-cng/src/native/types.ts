/**
 * The typed surface of the Windows bindings: what `src/native/` offers the layers above it. Nothing
 * here imports koffi; a test double implements the same interfaces.
 *
 * Conventions every implementation keeps:
 * - Handles are branded `bigint`s and are never `0n` when handed out; every method checks the
 *   handles and lengths it is given in TypeScript, before any native call, and throws
 *   `ERR_KEYSTORE_INVALID_ARGUMENT` when one is wrong (a zero handle crashes some implementations).
 * - A non-zero status becomes a `KeyStoreError` built from the status table (`statusError`), carrying
 *   `nativeStatus` (unsigned), `nativeName` (e.g. `NTE_BAD_KEYSET`) and a hint. Callers branch on
 *   `nativeStatus` when one status means something particular to them (e.g. `NTE_EXISTS`).
 * - Methods that can take long (key generation, signing, anything a TPM does) return promises and
 *   run through koffi's async mode; cheap property reads are synchronous.
 *
 * @module
 */

/** An `NCRYPT_PROV_HANDLE`. */
export type NCryptProvHandle = bigint & {
  /** Type brand only; no such property exists at run time. */
  readonly __brand: 'NCRYPT_PROV_HANDLE';
};
/** An `NCRYPT_KEY_HANDLE`. */
export type NCryptKeyHandle = bigint & {
  /** Type brand only; no such property exists at run time. */
  readonly __brand: 'NCRYPT_KEY_HANDLE';
};
/** An `NCRYPT_SECRET_HANDLE`. */
export type NCryptSecretHandle = bigint & {
  /** Type brand only; no such property exists at run time. */
  readonly __brand: 'NCRYPT_SECRET_HANDLE';
};
/** Any NCrypt object handle. */
export type NCryptHandle = NCryptProvHandle | NCryptKeyHandle | NCryptSecretHandle;

/** Hash names as NCrypt spells them in padding structures. */
export type NCryptHashName = 'SHA1' | 'SHA256' | 'SHA384' | 'SHA512';

/**
 * Padding of a sign, verify, encrypt or decrypt call. `none` passes a NULL padding structure and no
 * padding flag (ECDSA signatures).
 */
export type NCryptPadding =
  | {
      /** No padding structure, no padding flag. */
      readonly kind: 'none';
    }
  | {
      /** PKCS#1 v1.5 (`BCRYPT_PAD_PKCS1`). */
      readonly kind: 'pkcs1';
      /** The hash whose DigestInfo is signed; omitted, the digest bytes are signed as they are. */
      readonly hash?: NCryptHashName;
    }
  | {
      /** RSA-PSS (`BCRYPT_PAD_PSS`), for signatures. */
      readonly kind: 'pss';
      /** The hash of the digest and of MGF1. */
      readonly hash: NCryptHashName;
      /** `cbSalt`, in bytes. */
      readonly saltLength: number;
    }
  | {
      /** RSA-OAEP (`BCRYPT_PAD_OAEP`), for encryption. */
      readonly kind: 'oaep';
      /** The hash of OAEP and MGF1. */
      readonly hash: NCryptHashName;
      /** The OAEP label (`pbLabel`); none when omitted. */
      readonly label?: Buffer;
    };

/** One entry of `NCryptEnumKeys` (an `NCryptKeyName`). */
export interface NCryptKeyNameInfo {
  /** `pszName`. */
  readonly name: string;
  /** `pszAlgid` (e.g. `RSA`, `ECDSA_P256`). */
  readonly algorithm: string;
  /** `dwLegacyKeySpec`: 0, `AT_KEYEXCHANGE` (1) or `AT_SIGNATURE` (2). */
  readonly legacyKeySpec: number;
  /** `dwFlags` (0x20 = machine key). */
  readonly flags: number;
}

/** A value for `NCryptSetProperty`: a DWORD, a UTF-16 string (NUL included in `cb`), or raw bytes. */
export type NCryptPropertyValue = number | string | Buffer;

/**
 * `NCRYPT_UI_POLICY`: prompts Windows shows when the key is used (`dwVersion` is always 1).
 */
export interface NCryptUiPolicy {
  /** `NCRYPT_UI_PROTECT_KEY_FLAG` (1) and/or `NCRYPT_UI_FORCE_HIGH_PROTECTION_FLAG` (2). */
  readonly flags: number;
  /** `pszCreationTitle`. */
  readonly creationTitle?: string;
  /** `pszFriendlyName`. */
  readonly friendlyName?: string;
  /** `pszDescription`. */
  readonly description?: string;
}

/** ncrypt.dll, as the providers use it. One call at a time is not required: NCrypt is thread-safe. */
export interface NCryptBindings {
  /** `NCryptOpenStorageProvider`. Succeeds on Wine for any name: never take success as presence. */
  openStorageProvider(providerName: string, flags?: number): NCryptProvHandle;
  /** `NCryptIsAlgSupported`: true on status 0, false on `NTE_NOT_SUPPORTED`; other statuses throw. */
  isAlgSupported(prov: NCryptProvHandle, algorithm: string, flags?: number): boolean;
  /** `NCryptCreatePersistedKey`; `keyName` null makes an ephemeral key. Finalize it afterwards. */
  createPersistedKey(
    prov: NCryptProvHandle,
    algorithm: string,
    keyName: string | null,
    legacyKeySpec: number,
    flags: number,
  ): Promise<NCryptKeyHandle>;
  /** `NCryptFinalizeKey`: generates the key (slow: seconds on a TPM). */
  finalizeKey(key: NCryptKeyHandle, flags: number): Promise<void>;
  /** `NCryptOpenKey`; `NTE_BAD_KEYSET` when there is no such key. */
  openKey(prov: NCryptProvHandle, keyName: string, legacyKeySpec: number, flags: number): Promise<NCryptKeyHandle>;
  /** `NCryptDeleteKey`: deletes the key and frees its handle (on success only). */
  deleteKey(key: NCryptKeyHandle, flags: number): Promise<void>;
  /** `NCryptEnumKeys` until `NTE_NO_MORE_ITEMS`, freeing every buffer with `NCryptFreeBuffer`. */
  enumKeys(prov: NCryptProvHandle, flags: number): Promise<NCryptKeyNameInfo[]>;
  /** `NCryptGetProperty` (size query, then the value). Throws `NTE_NOT_FOUND` when the property is absent. */
  getProperty(handle: NCryptProvHandle | NCryptKeyHandle, property: string, flags?: number): Buffer;
  /** `getProperty` decoded as a DWORD (must be 4 bytes). */
  getDwordProperty(handle: NCryptProvHandle | NCryptKeyHandle, property: string, flags?: number): number;
  /** `getProperty` decoded as a UTF-16LE string without its NUL. */
  getStringProperty(handle: NCryptProvHandle | NCryptKeyHandle, property: string, flags?: number): string;
  /** `NCryptSetProperty`. */
  setProperty(
    handle: NCryptProvHandle | NCryptKeyHandle,
    property: string,
    value: NCryptPropertyValue,
    flags?: number,
  ): void;
  /**
   * `NCryptSetProperty(NCRYPT_UI_POLICY_PROPERTY)` with a marshalled `NCRYPT_UI_POLICY` and
   * `NCRYPT_PERSIST_FLAG` (before finalize).
   */
  setUiPolicy(key: NCryptKeyHandle, policy: NCryptUiPolicy): void;
  /** `NCryptExportKey` (size query, then the blob); e.g. `RSAPUBLICBLOB`, `ECCPUBLICBLOB`, `RSAFULLPRIVATEBLOB`. */
  exportKey(key: NCryptKeyHandle, blobType: string, flags?: number): Buffer;
  /**
   * `NCryptImportKey`. With `keyName`, passes an `NCryptBufferDesc` holding one
   * `NCRYPTBUFFER_PKCS_KEY_NAME` (45) buffer so the key is persisted under that name; then finalize it.
   * The key comes back finalized unless `flags` has `NCRYPT_DO_NOT_FINALIZE_FLAG` (0x400), which lets
   * properties (export policy) be set before `finalizeKey`; finalizing an already finalized key fails.
   */
  importKey(
    prov: NCryptProvHandle,
    blobType: string,
    blob: Buffer,
    keyName: string | null,
    flags: number,
  ): Promise<NCryptKeyHandle>;
  /** `NCryptSignHash`: RSA signatures big-endian; ECDSA raw r‖s. */
  signHash(key: NCryptKeyHandle, digest: Buffer, padding: NCryptPadding, flags?: number): Promise<Buffer>;
  /** `NCryptVerifySignature`: true on success, false on `NTE_BAD_SIGNATURE`; other statuses throw. */
  verifySignature(
    key: NCryptKeyHandle,
    digest: Buffer,
    signature: Buffer,
    padding: NCryptPadding,
    flags?: number,
  ): Promise<boolean>;
  /** `NCryptEncrypt`. */
  encrypt(key: NCryptKeyHandle, data: Buffer, padding: NCryptPadding, flags?: number): Promise<Buffer>;
  /** `NCryptDecrypt`. */
  decrypt(key: NCryptKeyHandle, data: Buffer, padding: NCryptPadding, flags?: number): Promise<Buffer>;
  /** `NCryptSecretAgreement`. */
  secretAgreement(priv: NCryptKeyHandle, peer: NCryptKeyHandle, flags?: number): Promise<NCryptSecretHandle>;
  /** `NCryptDeriveKey(secret, "TRUNCATE", NULL, …)`: the raw secret, **little-endian** as Windows returns it. */
  deriveRawSecret(secret: NCryptSecretHandle, flags?: number): Promise<Buffer>;
  /**
   * `NCryptFreeObject`. Idempotent per handle value: freeing a handle that is not open (freed already,
   * freed by `deleteKey`, or not from these bindings) does nothing, with no native call; a handle handed
   * out N times (Wine returns the provider handle as `Provider Handle`) is freed on the N-th call.
   */
  freeObject(handle: NCryptHandle): void;
}

/** `TPM_DEVICE_INFO` from `Tbsi_GetDeviceInfo`. */
export interface TpmDeviceInfo {
  /** `structVersion`. */
  readonly structVersion: number;
  /** 1 = TPM 1.2, 2 = TPM 2.0. */
  readonly tpmVersion: number;
  /** 0 unknown, 1 IFTYPE_1, 2 TrustZone, 3 hardware, 4 emulator, 5 SPB. */
  readonly tpmInterfaceType: number;
  /** `tpmImpRevision`. */
  readonly tpmImpRevision: number;
}

/** The result of a posture query that may be refused (e.g. ACCESS_DENIED for a standard user). */
export type PostureReading<T> =
  | {
      /** The query succeeded. */
      readonly ok: true;
      /** What it read. */
      readonly value: T;
    }
  | {
      /** Windows refused or does not know the query. */
      readonly ok: false;
      /** The unsigned status (Win32 error, HRESULT, TBS result or NTSTATUS). */
      readonly status: number;
      /** The status's name and what it means, for a person. */
      readonly reason: string;
    };

/** System calls used to measure the isolation posture (kernel32, advapi32, ntdll, tbs). */
export interface WindowsSystemBindings {
  /** `wine_get_version()` from ntdll when it is exported (Wine), else null. */
  wineVersion(): string | null;
  /** Windows version from `RtlGetVersion`: major, minor, build. */
  windowsVersion(): {
    /** `dwMajorVersion` (10 on Windows 10 and 11). */
    readonly major: number;
    /** `dwMinorVersion`. */
    readonly minor: number;
    /** `dwBuildNumber` (22000 and above is Windows 11). */
    readonly build: number;
  };
  /** `Tbsi_GetDeviceInfo`; `TBS_E_TPM_NOT_FOUND` (0x8028400F) comes back as `{ ok: false }`. */
  tpmDeviceInfo(): PostureReading<TpmDeviceInfo>;
  /**
   * The TPM's manufacturer id (`TPM_PT_MANUFACTURER`, four ASCII characters such as `IFX`, `NTC`,
   * `MSFT`), read by sending `TPM2_GetCapability` through the TPM Base Services
   * (`Tbsi_Context_Create`, `Tbsip_Submit_Command`, `Tbsip_Context_Close`). `{ ok: false }` when there
   * is no TPM 2.0 or TBS refuses. Optional so that older doubles of this interface still fit; a
   * binding without it counts as "could not be read".
   *
   * @since 0.2.0
   */
  tpmManufacturer?(): PostureReading<string>;
  /**
   * The LSASS process's protection right now: its PID, from the service control manager (the
   * process of the `KeyIso`, else `SamSs` service) or, only when that gives none, the one process
   * named `lsass.exe` that runs in session 0 from `<system directory>\lsass.exe` (never a name
   * alone; see `findLsass`), then `OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION)` and
   * `NtQueryInformationProcess(ProcessProtectionInformation = 61)`: the `PS_PROTECTION` byte
   * (0x41 = LSA light). `{ ok: false }` when a step is refused or no process can be trusted
   * (`ERROR_NOT_FOUND`).
   */
  lsassProtection(): PostureReading<{
    /** The PID of lsass.exe. */
    readonly pid: number;
    /** The `PS_PROTECTION` byte: type in bits 0–2 (1 = light), signer in bits 4–7 (4 = LSA). */
    readonly protection: number;
    /**
     * How the process was identified, for evidence: `service control manager (KeyIso)` or
     * `session-0 process at C:\Windows\System32\lsass.exe`. Optional so that older doubles of
     * this interface still fit; a reading without it is reported as "not said".
     *
     * @since 0.3.0
     */
    readonly identifiedBy?: string;
  }>;
  /**
   * `NtQuerySystemInformation(SystemIsolatedUserModeInformation = 165)`: bit 0 secure kernel
   * running, bit 1 HVCI, bit 8 trustlet running (needs the Ex form), bit 10 hardware-enforced VBS.
   */
  isolatedUserMode(): PostureReading<{
    /** Bit 0: the secure kernel (VTL1) is running. */
    readonly secureKernelRunning: boolean;
    /** Bit 1: hypervisor-protected code integrity is on. */
    readonly hvciEnabled: boolean;
    /** Bit 8: a trustlet (e.g. LsaIso for Credential Guard) is running. */
    readonly trustletRunning: boolean;
    /** Bit 10: virtualization-based security is enforced by hardware (absent when not measured). */
    readonly hardwareEnforcedVbs?: boolean;
  }>;
  /** `RegGetValueW` on HKLM: a DWORD, string or multi-string; `{ ok: false, status: 2 }` when missing. */
  registryValue(path: string, name: string): PostureReading<number | string | string[]>;
}
