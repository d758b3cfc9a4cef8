/*
 * Prints, as one line of JSON, what the Windows SDK headers (as shipped with mingw-w64) say about
 * the structs and constants the CNG bindings define: sizeof, alignof and offsetof of every member,
 * and the value of every constant named in the generated header "layout-constants.h" (written by
 * layout.int.test.ts from constants.ts and the status table). layout.int.test.ts builds this with
 * x86_64-w64-mingw32-gcc, runs it under Wine and compares it with koffi's view of the same structs.
 *
 * Output: {"structs":{"NAME":{"size":N,"alignment":N,"offsets":{"member":N,...}},...},
 *          "constants":{"NAME":{"kind":"number","value":"DECIMAL"}|{"kind":"string","value":"..."}
 *                       |{"kind":"missing"},...}}
 */
#define WIN32_NO_STATUS
#include <windows.h>
#undef WIN32_NO_STATUS
#include <wincrypt.h>
#include <ntstatus.h>
#include <winternl.h>
#include <bcrypt.h>
#include <ncrypt.h>
#include <tbs.h>
#include <tlhelp32.h>
#include <winsvc.h>
#include <stddef.h>
#include <stdio.h>

static int first_entry = 1;

static void separator(void) {
  if (!first_entry) putchar(',');
  first_entry = 0;
}

static void begin_struct(const char *name, size_t size, size_t alignment) {
  separator();
  printf("\"%s\":{\"size\":%u,\"alignment\":%u,\"offsets\":{", name, (unsigned)size, (unsigned)alignment);
  first_entry = 1;
}

static void member(const char *name, size_t offset) {
  separator();
  printf("\"%s\":%u", name, (unsigned)offset);
}

static void end_struct(void) {
  printf("}}");
  first_entry = 0;
}

#define STRUCT(T) begin_struct(#T, sizeof(T), _Alignof(T))
#define MEMBER(T, m) member(#m, offsetof(T, m))

static void number(const char *name, unsigned long long value) {
  separator();
  printf("\"%s\":{\"kind\":\"number\",\"value\":\"%llu\"}", name, value);
}

static void json_char(unsigned int c) {
  if (c == '"' || c == '\\') printf("\\%c", (char)c);
  else if (c >= 0x20 && c < 0x7f) putchar((int)c);
  else printf("\\u%04x", c);
}

static void wide_string(const char *name, const wchar_t *value) {
  separator();
  printf("\"%s\":{\"kind\":\"string\",\"value\":\"", name);
  for (; *value; value++) json_char((unsigned int)*value);
  printf("\"}");
}

static void narrow_string(const char *name, const char *value) {
  separator();
  printf("\"%s\":{\"kind\":\"string\",\"value\":\"", name);
  for (; *value; value++) json_char((unsigned char)*value);
  printf("\"}");
}

static void missing(const char *name) {
  separator();
  printf("\"%s\":{\"kind\":\"missing\"}", name);
}

/* A 32-bit constant (DWORD, LONG, HRESULT, NTSTATUS): its unsigned 32-bit value. */
#define KS_U32(name) number(#name, (unsigned long long)(unsigned int)(name))
/* A pointer-sized constant (a predefined HKEY): its unsigned 64-bit value. */
#define KS_U64(name) number(#name, (unsigned long long)(ULONG_PTR)(name))
/* A string constant, wide (L"…") or narrow. */
#define KS_STR(name) \
  _Generic((name), wchar_t *: wide_string, const wchar_t *: wide_string, char *: narrow_string, const char *: narrow_string)(#name, (name))
#define KS_MISSING(name) missing(#name)

int main(void) {
  printf("{\"structs\":{");
  first_entry = 1;

  STRUCT(NCryptKeyName);
  MEMBER(NCryptKeyName, pszName);
  MEMBER(NCryptKeyName, pszAlgid);
  MEMBER(NCryptKeyName, dwLegacyKeySpec);
  MEMBER(NCryptKeyName, dwFlags);
  end_struct();

  STRUCT(NCryptBuffer);
  MEMBER(NCryptBuffer, cbBuffer);
  MEMBER(NCryptBuffer, BufferType);
  MEMBER(NCryptBuffer, pvBuffer);
  end_struct();

  STRUCT(NCryptBufferDesc);
  MEMBER(NCryptBufferDesc, ulVersion);
  MEMBER(NCryptBufferDesc, cBuffers);
  MEMBER(NCryptBufferDesc, pBuffers);
  end_struct();

  STRUCT(BCRYPT_PKCS1_PADDING_INFO);
  MEMBER(BCRYPT_PKCS1_PADDING_INFO, pszAlgId);
  end_struct();

  STRUCT(BCRYPT_PSS_PADDING_INFO);
  MEMBER(BCRYPT_PSS_PADDING_INFO, pszAlgId);
  MEMBER(BCRYPT_PSS_PADDING_INFO, cbSalt);
  end_struct();

  STRUCT(BCRYPT_OAEP_PADDING_INFO);
  MEMBER(BCRYPT_OAEP_PADDING_INFO, pszAlgId);
  MEMBER(BCRYPT_OAEP_PADDING_INFO, pbLabel);
  MEMBER(BCRYPT_OAEP_PADDING_INFO, cbLabel);
  end_struct();

  STRUCT(NCRYPT_UI_POLICY);
  MEMBER(NCRYPT_UI_POLICY, dwVersion);
  MEMBER(NCRYPT_UI_POLICY, dwFlags);
  MEMBER(NCRYPT_UI_POLICY, pszCreationTitle);
  MEMBER(NCRYPT_UI_POLICY, pszFriendlyName);
  MEMBER(NCRYPT_UI_POLICY, pszDescription);
  end_struct();

  STRUCT(BCRYPT_RSAKEY_BLOB);
  MEMBER(BCRYPT_RSAKEY_BLOB, Magic);
  MEMBER(BCRYPT_RSAKEY_BLOB, BitLength);
  MEMBER(BCRYPT_RSAKEY_BLOB, cbPublicExp);
  MEMBER(BCRYPT_RSAKEY_BLOB, cbModulus);
  MEMBER(BCRYPT_RSAKEY_BLOB, cbPrime1);
  MEMBER(BCRYPT_RSAKEY_BLOB, cbPrime2);
  end_struct();

  STRUCT(BCRYPT_ECCKEY_BLOB);
  MEMBER(BCRYPT_ECCKEY_BLOB, dwMagic);
  MEMBER(BCRYPT_ECCKEY_BLOB, cbKey);
  end_struct();

  STRUCT(OSVERSIONINFOW);
  MEMBER(OSVERSIONINFOW, dwOSVersionInfoSize);
  MEMBER(OSVERSIONINFOW, dwMajorVersion);
  MEMBER(OSVERSIONINFOW, dwMinorVersion);
  MEMBER(OSVERSIONINFOW, dwBuildNumber);
  MEMBER(OSVERSIONINFOW, dwPlatformId);
  MEMBER(OSVERSIONINFOW, szCSDVersion);
  end_struct();

  STRUCT(SERVICE_STATUS_PROCESS);
  MEMBER(SERVICE_STATUS_PROCESS, dwServiceType);
  MEMBER(SERVICE_STATUS_PROCESS, dwCurrentState);
  MEMBER(SERVICE_STATUS_PROCESS, dwControlsAccepted);
  MEMBER(SERVICE_STATUS_PROCESS, dwWin32ExitCode);
  MEMBER(SERVICE_STATUS_PROCESS, dwServiceSpecificExitCode);
  MEMBER(SERVICE_STATUS_PROCESS, dwCheckPoint);
  MEMBER(SERVICE_STATUS_PROCESS, dwWaitHint);
  MEMBER(SERVICE_STATUS_PROCESS, dwProcessId);
  MEMBER(SERVICE_STATUS_PROCESS, dwServiceFlags);
  end_struct();

  STRUCT(PROCESSENTRY32W);
  MEMBER(PROCESSENTRY32W, dwSize);
  MEMBER(PROCESSENTRY32W, cntUsage);
  MEMBER(PROCESSENTRY32W, th32ProcessID);
  MEMBER(PROCESSENTRY32W, th32DefaultHeapID);
  MEMBER(PROCESSENTRY32W, th32ModuleID);
  MEMBER(PROCESSENTRY32W, cntThreads);
  MEMBER(PROCESSENTRY32W, th32ParentProcessID);
  MEMBER(PROCESSENTRY32W, pcPriClassBase);
  MEMBER(PROCESSENTRY32W, dwFlags);
  MEMBER(PROCESSENTRY32W, szExeFile);
  end_struct();

  STRUCT(CERT_CONTEXT);
  MEMBER(CERT_CONTEXT, dwCertEncodingType);
  MEMBER(CERT_CONTEXT, pbCertEncoded);
  MEMBER(CERT_CONTEXT, cbCertEncoded);
  MEMBER(CERT_CONTEXT, pCertInfo);
  MEMBER(CERT_CONTEXT, hCertStore);
  end_struct();

  STRUCT(CRYPT_KEY_PROV_INFO);
  MEMBER(CRYPT_KEY_PROV_INFO, pwszContainerName);
  MEMBER(CRYPT_KEY_PROV_INFO, pwszProvName);
  MEMBER(CRYPT_KEY_PROV_INFO, dwProvType);
  MEMBER(CRYPT_KEY_PROV_INFO, dwFlags);
  MEMBER(CRYPT_KEY_PROV_INFO, cProvParam);
  MEMBER(CRYPT_KEY_PROV_INFO, rgProvParam);
  MEMBER(CRYPT_KEY_PROV_INFO, dwKeySpec);
  end_struct();

  STRUCT(CRYPT_DATA_BLOB);
  MEMBER(CRYPT_DATA_BLOB, cbData);
  MEMBER(CRYPT_DATA_BLOB, pbData);
  end_struct();

  printf("},\"constants\":{");
  first_entry = 1;
#include "layout-constants.h"
  printf("}}\n");
  return 0;
}
