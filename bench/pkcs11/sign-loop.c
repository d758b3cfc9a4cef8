/* The baseline of the PKCS#11 benchmark: C_SignInit + C_Sign in a loop, for SECONDS, on the token and
 * key the benchmark made, in THREADS threads with a session each (default 1). ALG is `ec` (CKM_ECDSA
 * over a SHA-256 digest) or `rsa` (CKM_RSA_PKCS over the digest's DigestInfo). Prints signs per second
 * (all threads together).
 * Usage: sign-loop MODULE TOKEN_LABEL PIN KEY_LABEL SECONDS [ALG [THREADS]] */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <p11-kit/pkcs11.h>

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec / 1e9;
}

#define CHECK(call) do { CK_RV rv = (call); if (rv != CKR_OK) { fprintf(stderr, "%s: 0x%lx\n", #call, rv); exit(1); } } while (0)

static CK_FUNCTION_LIST_PTR f;
static CK_SLOT_ID slot = (CK_SLOT_ID)-1;
static const char *pin, *key_label;
static double seconds;
static int rsa;

/* DER of SHA-256's DigestInfo up to the digest, then the digest. */
static const unsigned char digest_info_prefix[19] = { 0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01,
                                                      0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20 };

static void *signer(void *out) {
  CK_SESSION_HANDLE session;
  CHECK(f->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &session));
  CK_RV login = f->C_Login(session, CKU_USER, (CK_UTF8CHAR_PTR)pin, strlen(pin));
  if (login != CKR_OK && login != CKR_USER_ALREADY_LOGGED_IN) exit(5);
  CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
  CK_ATTRIBUTE tmpl[] = { { CKA_CLASS, &cls, sizeof cls }, { CKA_LABEL, (void *)key_label, strlen(key_label) } };
  CK_OBJECT_HANDLE key;
  CK_ULONG found = 0;
  CHECK(f->C_FindObjectsInit(session, tmpl, 2));
  CHECK(f->C_FindObjects(session, &key, 1, &found));
  CHECK(f->C_FindObjectsFinal(session));
  if (found != 1) exit(6);
  CK_MECHANISM mech = { rsa ? CKM_RSA_PKCS : CKM_ECDSA, NULL, 0 };
  unsigned char data[19 + 32];
  memcpy(data, digest_info_prefix, sizeof digest_info_prefix);
  memset(data + 19, 7, 32);
  unsigned char *digest = rsa ? data : data + 19;
  CK_ULONG digest_len = rsa ? sizeof data : 32;
  unsigned char sig[1024];
  long done = 0;
  double start = now();
  while (now() - start < seconds) {
    CK_ULONG len = sizeof sig;
    data[19] = (unsigned char)done;
    CHECK(f->C_SignInit(session, &mech, key));
    CHECK(f->C_Sign(session, digest, digest_len, sig, &len));
    done++;
  }
  *(double *)out = done / (now() - start);
  f->C_CloseSession(session);
  return NULL;
}

int main(int argc, char **argv) {
  if (argc < 6 || argc > 8) return 2;
  void *lib = dlopen(argv[1], RTLD_NOW);
  if (!lib) return 3;
  CK_C_GetFunctionList get = (CK_C_GetFunctionList)dlsym(lib, "C_GetFunctionList");
  CHECK(get(&f));
  CK_C_INITIALIZE_ARGS init = { 0 };
  init.flags = CKF_OS_LOCKING_OK;
  CHECK(f->C_Initialize(&init));
  CK_SLOT_ID slots[64];
  CK_ULONG count = 64;
  CHECK(f->C_GetSlotList(CK_TRUE, slots, &count));
  for (CK_ULONG i = 0; i < count; i++) {
    CK_TOKEN_INFO info;
    if (f->C_GetTokenInfo(slots[i], &info) != CKR_OK) continue;
    char label[33];
    memcpy(label, info.label, 32);
    label[32] = 0;
    for (int j = 31; j >= 0 && label[j] == ' '; j--) label[j] = 0;
    if (strcmp(label, argv[2]) == 0) slot = slots[i];
  }
  if (slot == (CK_SLOT_ID)-1) return 4;
  pin = argv[3];
  key_label = argv[4];
  seconds = atof(argv[5]);
  rsa = argc > 6 && strcmp(argv[6], "rsa") == 0;
  int threads = argc > 7 ? atoi(argv[7]) : 1;
  if (threads < 1 || threads > 64) return 2;
  pthread_t ids[64];
  double rates[64];
  for (int i = 0; i < threads; i++) pthread_create(&ids[i], NULL, signer, &rates[i]);
  double total = 0;
  for (int i = 0; i < threads; i++) {
    pthread_join(ids[i], NULL);
    total += rates[i];
  }
  printf("%f\n", total);
  f->C_Finalize(NULL);
  return 0;
}
