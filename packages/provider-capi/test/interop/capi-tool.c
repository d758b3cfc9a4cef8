/*
 * capi-tool: uses CryptoAPI key containers directly, the way other Windows programs do, so that tests
 * can check that containers made by @keystore/provider-capi are ordinary containers and the other way
 * round. Built with mingw-w64 by interop.int.test.ts and bench/capi.mjs:
 *
 *   x86_64-w64-mingw32-gcc -O2 -Wall -o capi-tool.exe capi-tool.c -ladvapi32
 *
 * Usage (every command prints one JSON object on stdout; failures exit 2 with {"error": …}):
 *   capi-tool create NAME [--machine] [--signature] [--exportable] [--bits N]
 *   capi-tool sign NAME HEXDIGEST|FILE [--machine] [--sha384|--sha512]
 *       HEXDIGEST: a digest in hex (signed as is); FILE: hashed with CryptHashData. The signature is
 *       printed big-endian (CryptoAPI's little-endian bytes reversed), as OpenSSL expects it.
 *   capi-tool pubkey NAME [--machine]        the PUBLICKEYBLOB, and n and e big-endian
 *   capi-tool bench NAME N [BLOCKS] [--machine]
 *       N SHA-256 signatures of a 32-byte message, timed in total and per block
 *   capi-tool delete NAME [--machine]
 *
 * The key of a container is its AT_KEYEXCHANGE key, else its AT_SIGNATURE key.
 */
#include <windows.h>
#include <wincrypt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PROVIDER MS_ENH_RSA_AES_PROV_W

static int fail(const char *step) {
  DWORD status = GetLastError();
  printf("{\"error\":\"0x%08lx\",\"step\":\"%s\"}\n", (unsigned long)status, step);
  return 2;
}

static int has_flag(int argc, char **argv, const char *flag) {
  for (int i = 2; i < argc; i++)
    if (strcmp(argv[i], flag) == 0) return 1;
  return 0;
}

static const char *flag_value(int argc, char **argv, const char *flag) {
  for (int i = 2; i + 1 < argc; i++)
    if (strcmp(argv[i], flag) == 0) return argv[i + 1];
  return NULL;
}

static WCHAR *wide(const char *s) {
  int n = MultiByteToWideChar(CP_ACP, 0, s, -1, NULL, 0);
  WCHAR *w = (WCHAR *)calloc((size_t)n, sizeof(WCHAR));
  MultiByteToWideChar(CP_ACP, 0, s, -1, w, n);
  return w;
}

static void print_hex(const BYTE *data, DWORD length, int reverse) {
  for (DWORD i = 0; i < length; i++) printf("%02x", data[reverse ? length - 1 - i : i]);
}

static int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* Parses `text` as hex of exactly `length` bytes into `out`; 0 when it is not. */
static int parse_hex(const char *text, BYTE *out, size_t length) {
  if (strlen(text) != length * 2) return 0;
  for (size_t i = 0; i < length; i++) {
    int hi = hex_value(text[2 * i]), lo = hex_value(text[2 * i + 1]);
    if (hi < 0 || lo < 0) return 0;
    out[i] = (BYTE)(hi * 16 + lo);
  }
  return 1;
}

/* Opens a container and its key: AT_KEYEXCHANGE first, then AT_SIGNATURE. */
static int open_key(const char *name, DWORD machine, HCRYPTPROV *prov, HCRYPTKEY *key, DWORD *spec) {
  WCHAR *container = wide(name);
  BOOL ok = CryptAcquireContextW(prov, container, PROVIDER, PROV_RSA_AES, machine | CRYPT_SILENT);
  free(container);
  if (!ok) return 0;
  *spec = AT_KEYEXCHANGE;
  if (CryptGetUserKey(*prov, AT_KEYEXCHANGE, key)) return 1;
  *spec = AT_SIGNATURE;
  if (CryptGetUserKey(*prov, AT_SIGNATURE, key)) return 1;
  DWORD status = GetLastError();
  CryptReleaseContext(*prov, 0);
  SetLastError(status);
  return 0;
}

static int cmd_create(int argc, char **argv, DWORD machine) {
  const char *bits_text = flag_value(argc, argv, "--bits");
  DWORD bits = bits_text ? (DWORD)strtoul(bits_text, NULL, 10) : 2048;
  DWORD spec = has_flag(argc, argv, "--signature") ? AT_SIGNATURE : AT_KEYEXCHANGE;
  DWORD flags = (bits << 16) | (has_flag(argc, argv, "--exportable") ? CRYPT_EXPORTABLE : 0);
  WCHAR *container = wide(argv[2]);
  HCRYPTPROV prov;
  BOOL ok = CryptAcquireContextW(&prov, container, PROVIDER, PROV_RSA_AES, machine | CRYPT_NEWKEYSET);
  free(container);
  if (!ok) return fail("CryptAcquireContextW(CRYPT_NEWKEYSET)");
  HCRYPTKEY key;
  if (!CryptGenKey(prov, spec, flags, &key)) {
    int rc = fail("CryptGenKey");
    CryptReleaseContext(prov, 0);
    return rc;
  }
  /* rsaenh stores the new key when its handles are released. */
  CryptDestroyKey(key);
  CryptReleaseContext(prov, 0);
  printf("{\"created\":\"%s\",\"spec\":\"%s\",\"bits\":%lu}\n", argv[2],
         spec == AT_SIGNATURE ? "AT_SIGNATURE" : "AT_KEYEXCHANGE", (unsigned long)bits);
  return 0;
}

static int cmd_pubkey(char **argv, DWORD machine) {
  HCRYPTPROV prov;
  HCRYPTKEY key;
  DWORD spec;
  if (!open_key(argv[2], machine, &prov, &key, &spec)) return fail("open");
  DWORD length = 0;
  int rc = 0;
  if (!CryptExportKey(key, 0, PUBLICKEYBLOB, 0, NULL, &length)) {
    rc = fail("CryptExportKey(size)");
  } else {
    BYTE *blob = (BYTE *)malloc(length);
    if (!CryptExportKey(key, 0, PUBLICKEYBLOB, 0, blob, &length)) {
      rc = fail("CryptExportKey");
    } else {
      RSAPUBKEY *rsa = (RSAPUBKEY *)(blob + sizeof(BLOBHEADER));
      BYTE *modulus = blob + sizeof(BLOBHEADER) + sizeof(RSAPUBKEY);
      printf("{\"spec\":\"%s\",\"bits\":%lu,\"e\":%lu,\"n\":\"", spec == AT_SIGNATURE ? "AT_SIGNATURE" : "AT_KEYEXCHANGE",
             (unsigned long)rsa->bitlen, (unsigned long)rsa->pubexp);
      print_hex(modulus, rsa->bitlen / 8, 1);
      printf("\",\"blob\":\"");
      print_hex(blob, length, 0);
      printf("\"}\n");
    }
    free(blob);
  }
  CryptDestroyKey(key);
  CryptReleaseContext(prov, 0);
  return rc;
}

/* Makes a hash object holding `digest` (or the hash of `file`), signs it, prints the signature. */
static int cmd_sign(int argc, char **argv, DWORD machine) {
  if (argc < 4) return fail("usage");
  ALG_ID alg = CALG_SHA_256;
  size_t digest_length = 32;
  if (has_flag(argc, argv, "--sha384")) alg = CALG_SHA_384, digest_length = 48;
  if (has_flag(argc, argv, "--sha512")) alg = CALG_SHA_512, digest_length = 64;
  HCRYPTPROV prov;
  HCRYPTKEY key;
  DWORD spec;
  if (!open_key(argv[2], machine, &prov, &key, &spec)) return fail("open");
  int rc = 0;
  HCRYPTHASH hash = 0;
  BYTE digest[64];
  BYTE signature[1024];
  DWORD length = sizeof signature;
  if (!CryptCreateHash(prov, alg, 0, 0, &hash)) {
    rc = fail("CryptCreateHash");
  } else if (parse_hex(argv[3], digest, digest_length)) {
    if (!CryptSetHashParam(hash, HP_HASHVAL, digest, 0)) rc = fail("CryptSetHashParam");
  } else {
    FILE *f = fopen(argv[3], "rb");
    if (!f) {
      SetLastError(ERROR_FILE_NOT_FOUND);
      rc = fail("fopen");
    } else {
      BYTE buffer[4096];
      size_t n;
      while (rc == 0 && (n = fread(buffer, 1, sizeof buffer, f)) > 0)
        if (!CryptHashData(hash, buffer, (DWORD)n, 0)) rc = fail("CryptHashData");
      fclose(f);
    }
  }
  if (rc == 0 && !CryptSignHashW(hash, spec, NULL, 0, signature, &length)) rc = fail("CryptSignHashW");
  if (rc == 0) {
    printf("{\"spec\":\"%s\",\"signature\":\"", spec == AT_SIGNATURE ? "AT_SIGNATURE" : "AT_KEYEXCHANGE");
    print_hex(signature, length, 1);
    printf("\"}\n");
  }
  if (hash) CryptDestroyHash(hash);
  CryptDestroyKey(key);
  CryptReleaseContext(prov, 0);
  return rc;
}

/* The same loop an app signing messages runs: hash object, hash the message, sign, destroy. N
 * signatures in BLOCKS equal blocks (default 1), each block timed on its own. */
static int cmd_bench(int argc, char **argv, DWORD machine) {
  if (argc < 4) return fail("usage");
  long count = strtol(argv[3], NULL, 10);
  long blocks = argc > 4 && argv[4][0] != '-' ? strtol(argv[4], NULL, 10) : 1;
  if (count <= 0 || blocks <= 0 || blocks > 1000 || count % blocks != 0) return fail("count");
  HCRYPTPROV prov;
  HCRYPTKEY key;
  DWORD spec;
  if (!open_key(argv[2], machine, &prov, &key, &spec)) return fail("open");
  BYTE message[32];
  memset(message, 0x5a, sizeof message);
  BYTE signature[1024];
  double *rates = (double *)calloc((size_t)blocks, sizeof(double));
  LARGE_INTEGER frequency, start, end, block_start;
  QueryPerformanceFrequency(&frequency);
  long per_block = count / blocks;
  int rc = 0;
  for (long i = -3; i < count && rc == 0; i++) { /* three warm-up signatures, untimed */
    if (i == 0) QueryPerformanceCounter(&start);
    if (i >= 0 && i % per_block == 0) QueryPerformanceCounter(&block_start);
    HCRYPTHASH hash;
    DWORD length = sizeof signature;
    if (!CryptCreateHash(prov, CALG_SHA_256, 0, 0, &hash)) {
      rc = fail("CryptCreateHash");
      break;
    }
    if (!CryptHashData(hash, message, sizeof message, 0)) rc = fail("CryptHashData");
    else if (!CryptSignHashW(hash, spec, NULL, 0, signature, &length)) rc = fail("CryptSignHashW");
    CryptDestroyHash(hash);
    if (i >= 0 && (i + 1) % per_block == 0) {
      LARGE_INTEGER now;
      QueryPerformanceCounter(&now);
      rates[i / per_block] = (double)per_block * (double)frequency.QuadPart / (double)(now.QuadPart - block_start.QuadPart);
    }
  }
  QueryPerformanceCounter(&end);
  if (rc == 0) {
    double seconds = (double)(end.QuadPart - start.QuadPart) / (double)frequency.QuadPart;
    printf("{\"signs\":%ld,\"seconds\":%.6f,\"perSecond\":%.3f,\"blocks\":[", count, seconds, (double)count / seconds);
    for (long b = 0; b < blocks; b++) printf("%s%.3f", b ? "," : "", rates[b]);
    printf("]}\n");
  }
  free(rates);
  CryptDestroyKey(key);
  CryptReleaseContext(prov, 0);
  return rc;
}

static int cmd_delete(char **argv, DWORD machine) {
  WCHAR *container = wide(argv[2]);
  HCRYPTPROV prov;
  BOOL ok = CryptAcquireContextW(&prov, container, PROVIDER, PROV_RSA_AES, machine | CRYPT_DELETEKEYSET);
  free(container);
  if (!ok) return fail("CryptAcquireContextW(CRYPT_DELETEKEYSET)");
  printf("{\"deleted\":\"%s\"}\n", argv[2]);
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: capi-tool create|sign|pubkey|bench|delete NAME [...]\n");
    return 64;
  }
  DWORD machine = has_flag(argc, argv, "--machine") ? CRYPT_MACHINE_KEYSET : 0;
  if (strcmp(argv[1], "create") == 0) return cmd_create(argc, argv, machine);
  if (strcmp(argv[1], "sign") == 0) return cmd_sign(argc, argv, machine);
  if (strcmp(argv[1], "pubkey") == 0) return cmd_pubkey(argv, machine);
  if (strcmp(argv[1], "bench") == 0) return cmd_bench(argc, argv, machine);
  if (strcmp(argv[1], "delete") == 0) return cmd_delete(argv, machine);
  fprintf(stderr, "capi-tool: unknown command %s\n", argv[1]);
  return 64;
}
