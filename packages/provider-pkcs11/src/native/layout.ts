/**
 * The PKCS#11 structures this provider passes, laid out by koffi as the specification's headers lay
 * them out: natural alignment on Linux and macOS, `#pragma pack(1)` on Windows (`pkcs11.h`:
 * "packing 1 on Windows"), with `CK_ULONG` as the platform's `unsigned long` (8 bytes on 64-bit
 * Linux, 4 on Windows). Buffers are filled here with explicit offsets read from those koffi types, so
 * the module reads and writes memory the JavaScript side owns and keeps alive for the call.
 *
 * @module
 */
type KoffiModule = typeof import('koffi');
type KoffiType = ReturnType<KoffiModule['struct']>;

/** One attribute of a template: its type and its value (a Buffer the module reads or writes). */
export interface Attribute {
  readonly type: number;
  readonly value: Buffer;
}

/** A mechanism and its parameter block; `keep` holds buffers the parameter points into. */
export interface Mechanism {
  readonly mechanism: number;
  readonly parameter?: Buffer;
  readonly keep?: readonly Buffer[];
}

/** Sizes and offsets of the structures on this platform. */
export interface Layout {
  readonly ulong: number;
  readonly pointer: number;
  readonly attribute: { size: number; type: number; pValue: number; ulValueLen: number };
  readonly mechanism: { size: number; mechanism: number; pParameter: number; ulParameterLen: number };
  readonly initArgs: { size: number; flags: number };
  readonly sessionInfo: { size: number; state: number };
  readonly tokenInfo: { size: number; flags: number; ulongs: number; hardwareVersion: number; firmwareVersion: number };
  readonly info: {
    size: number;
    manufacturerID: number;
    flags: number;
    libraryDescription: number;
    libraryVersion: number;
  };
  readonly pss: { size: number; hashAlg: number; mgf: number; sLen: number };
  readonly oaep: {
    size: number;
    hashAlg: number;
    mgf: number;
    source: number;
    pSourceData: number;
    ulSourceDataLen: number;
  };
  readonly ecdh1: {
    size: number;
    kdf: number;
    ulSharedDataLen: number;
    pSharedData: number;
    ulPublicDataLen: number;
    pPublicData: number;
  };
  /** Offset of the first function pointer in `CK_FUNCTION_LIST` (after `CK_VERSION`). */
  readonly functionListFirst: number;
  /** `CK_INTERFACE.pFunctionList`. */
  readonly interfaceFunctionList: number;
}

/** The koffi types, made once per koffi instance. */
export function makeLayout(koffi: KoffiModule, windows = process.platform === 'win32'): Layout {
  const def = (members: Record<string, string | KoffiType>): KoffiType =>
    windows ? koffi.pack(members) : koffi.struct(members);
  const U = 'unsigned long';
  const P = 'void *';
  const version = def({ major: 'uint8_t', minor: 'uint8_t' });
  const attribute = def({ type: U, pValue: P, ulValueLen: U });
  const mechanism = def({ mechanism: U, pParameter: P, ulParameterLen: U });
  const initArgs = def({ CreateMutex: P, DestroyMutex: P, LockMutex: P, UnlockMutex: P, flags: U, pReserved: P });
  const tokenInfo = def({
    label: koffi.array('uint8_t', 32) as unknown as KoffiType,
    manufacturerID: koffi.array('uint8_t', 32) as unknown as KoffiType,
    model: koffi.array('uint8_t', 16) as unknown as KoffiType,
    serialNumber: koffi.array('uint8_t', 16) as unknown as KoffiType,
    flags: U,
    ulMaxSessionCount: U,
    ulSessionCount: U,
    ulMaxRwSessionCount: U,
    ulRwSessionCount: U,
    ulMaxPinLen: U,
    ulMinPinLen: U,
    ulTotalPublicMemory: U,
    ulFreePublicMemory: U,
    ulTotalPrivateMemory: U,
    ulFreePrivateMemory: U,
    hardwareVersion: version,
    firmwareVersion: version,
    utcTime: koffi.array('uint8_t', 16) as unknown as KoffiType,
  });
  const info = def({
    cryptokiVersion: version,
    manufacturerID: koffi.array('uint8_t', 32) as unknown as KoffiType,
    flags: U,
    libraryDescription: koffi.array('uint8_t', 32) as unknown as KoffiType,
    libraryVersion: version,
  });
  const sessionInfo = def({ slotID: U, state: U, flags: U, ulDeviceError: U });
  const pss = def({ hashAlg: U, mgf: U, sLen: U });
  const oaep = def({ hashAlg: U, mgf: U, source: U, pSourceData: P, ulSourceDataLen: U });
  const ecdh1 = def({ kdf: U, ulSharedDataLen: U, pSharedData: P, ulPublicDataLen: U, pPublicData: P });
  const functionList = def({ version, first: P });
  const iface = def({ pInterfaceName: P, pFunctionList: P, flags: U });
  const o = (type: KoffiType, member: string) => koffi.offsetof(type, member);
  return {
    ulong: koffi.sizeof(U),
    pointer: koffi.sizeof(P),
    attribute: {
      size: koffi.sizeof(attribute),
      type: o(attribute, 'type'),
      pValue: o(attribute, 'pValue'),
      ulValueLen: o(attribute, 'ulValueLen'),
    },
    mechanism: {
      size: koffi.sizeof(mechanism),
      mechanism: o(mechanism, 'mechanism'),
      pParameter: o(mechanism, 'pParameter'),
      ulParameterLen: o(mechanism, 'ulParameterLen'),
    },
    initArgs: { size: koffi.sizeof(initArgs), flags: o(initArgs, 'flags') },
    sessionInfo: { size: koffi.sizeof(sessionInfo), state: o(sessionInfo, 'state') },
    tokenInfo: {
      size: koffi.sizeof(tokenInfo),
      flags: o(tokenInfo, 'flags'),
      ulongs: o(tokenInfo, 'ulMaxSessionCount'),
      hardwareVersion: o(tokenInfo, 'hardwareVersion'),
      firmwareVersion: o(tokenInfo, 'firmwareVersion'),
    },
    info: {
      size: koffi.sizeof(info),
      manufacturerID: o(info, 'manufacturerID'),
      flags: o(info, 'flags'),
      libraryDescription: o(info, 'libraryDescription'),
      libraryVersion: o(info, 'libraryVersion'),
    },
    pss: { size: koffi.sizeof(pss), hashAlg: o(pss, 'hashAlg'), mgf: o(pss, 'mgf'), sLen: o(pss, 'sLen') },
    oaep: {
      size: koffi.sizeof(oaep),
      hashAlg: o(oaep, 'hashAlg'),
      mgf: o(oaep, 'mgf'),
      source: o(oaep, 'source'),
      pSourceData: o(oaep, 'pSourceData'),
      ulSourceDataLen: o(oaep, 'ulSourceDataLen'),
    },
    ecdh1: {
      size: koffi.sizeof(ecdh1),
      kdf: o(ecdh1, 'kdf'),
      ulSharedDataLen: o(ecdh1, 'ulSharedDataLen'),
      pSharedData: o(ecdh1, 'pSharedData'),
      ulPublicDataLen: o(ecdh1, 'ulPublicDataLen'),
      pPublicData: o(ecdh1, 'pPublicData'),
    },
    functionListFirst: o(functionList, 'first'),
    interfaceFunctionList: o(iface, 'pFunctionList'),
  };
}

/**
 * Marks `values` as used at this point, so that they stay reachable until then. A native call reads
 * the buffers a template or mechanism points to on a worker thread while JavaScript runs on: each
 * call site names them after its `await`, so the garbage collector cannot free them mid-call.
 */
export function retain(...values: unknown[]): number {
  return values.length;
}

/** Reads and writes `CK_ULONG` and pointers in buffers of this platform's layout. */
export class Memory {
  constructor(
    readonly layout: Layout,
    private readonly address: (buffer: Buffer) => bigint,
  ) {}

  /** A zeroed buffer the size of one `CK_ULONG`. */
  ulongBuffer(count = 1): Buffer {
    return Buffer.alloc(this.layout.ulong * count);
  }

  writeUlong(buffer: Buffer, offset: number, value: number | bigint): void {
    if (this.layout.ulong === 8) buffer.writeBigUInt64LE(BigInt(value), offset);
    else buffer.writeUInt32LE(Number(value), offset);
  }

  readUlong(buffer: Buffer, offset = 0): bigint {
    return this.layout.ulong === 8 ? buffer.readBigUInt64LE(offset) : BigInt(buffer.readUInt32LE(offset));
  }

  /** Writes the address of `target`'s first byte, or NULL for an empty or missing buffer. */
  writePointer(buffer: Buffer, offset: number, target: Buffer | undefined): void {
    const address = target && target.length > 0 ? this.address(target) : 0n;
    if (this.layout.pointer === 8) buffer.writeBigUInt64LE(address, offset);
    else buffer.writeUInt32LE(Number(address), offset);
  }

  /** A `CK_ATTRIBUTE[]` whose `pValue`s point into the attributes' own buffers. */
  template(attributes: readonly Attribute[]): Buffer {
    const a = this.layout.attribute;
    const out = Buffer.alloc(Math.max(1, attributes.length) * a.size);
    attributes.forEach((attribute, i) => {
      const base = i * a.size;
      this.writeUlong(out, base + a.type, attribute.type);
      this.writePointer(out, base + a.pValue, attribute.value);
      this.writeUlong(out, base + a.ulValueLen, attribute.value.length);
    });
    return out;
  }

  /** The `ulValueLen` of entry `i` of a template buffer (`CK_UNAVAILABLE_INFORMATION` as `-1`). */
  templateLength(template: Buffer, i: number): number {
    const value = this.readUlong(template, i * this.layout.attribute.size + this.layout.attribute.ulValueLen);
    const unavailable = this.layout.ulong === 8 ? 0xffffffffffffffffn : 0xffffffffn;
    return value === unavailable ? -1 : Number(value);
  }

  /** A `CK_MECHANISM`. */
  mechanism(mechanism: Mechanism): Buffer {
    const m = this.layout.mechanism;
    const out = Buffer.alloc(m.size);
    this.writeUlong(out, m.mechanism, mechanism.mechanism);
    this.writePointer(out, m.pParameter, mechanism.parameter);
    this.writeUlong(out, m.ulParameterLen, mechanism.parameter?.length ?? 0);
    return out;
  }

  /** `CK_BBOOL`. */
  bool(value: boolean): Buffer {
    return Buffer.from([value ? 1 : 0]);
  }

  /** One `CK_ULONG` as an attribute value. */
  ulong(value: number): Buffer {
    const out = this.ulongBuffer();
    this.writeUlong(out, 0, value);
    return out;
  }
}
