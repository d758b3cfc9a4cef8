/* The baseline of the PKCS#11 benchmark: C_SignInit + C_Sign (CKM_ECDSA over a SHA-256 digest) in a
 * loop on one session, for SECONDS, on the token and key the benchmark made. Prints signs per second.
 * Usage: sign-loop MODULE TOKEN_LABEL PIN KEY_LABEL SECONDS */
#include <dlfcn.h>
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

#define CHECK(call) do { CK_RV rv = (call); if (rv != CKR_OK) { fprintf(stderr, "%s: 0x%lx\n", #call, rv); return 1; } } while (0)

int main(int argc, char **argv) {
  if (argc != 6) return 2;
  void *lib = dlopen(argv[1], RTLD_NOW);
  if (!lib) return 3;
  CK_C_GetFunctionList get = (CK_C_GetFunctionList)dlsym(lib, "C_GetFunctionList");
  CK_FUNCTION_LIST_PTR f;
  CHECK(get(&f));
  CK_C_INITIALIZE_ARGS init = { 0 };
  init.flags = CKF_OS_LOCKING_OK;
  CHECK(f->C_Initialize(&init));
  CK_SLOT_ID slots[64];
  CK_ULONG count = 64;
  CHECK(f->C_GetSlotList(CK_TRUE, slots, &count));
  CK_SLOT_ID slot = (CK_SLOT_ID)-1;
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
  CK_SESSION_HANDLE session;
  CHECK(f->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &session));
  CK_RV login = f->C_Login(session, CKU_USER, (CK_UTF8CHAR_PTR)argv[3], strlen(argv[3]));
  if (login != CKR_OK && login != CKR_USER_ALREADY_LOGGED_IN) return 5;
  CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
  CK_ATTRIBUTE tmpl[] = { { CKA_CLASS, &cls, sizeof cls }, { CKA_LABEL, argv[4], strlen(argv[4]) } };
  CK_OBJECT_HANDLE key;
  CK_ULONG found = 0;
  CHECK(f->C_FindObjectsInit(session, tmpl, 2));
  CHECK(f->C_FindObjects(session, &key, 1, &found));
  CHECK(f->C_FindObjectsFinal(session));
  if (found != 1) return 6;
  CK_MECHANISM mech = { CKM_ECDSA, NULL, 0 };
  unsigned char digest[32];
  memset(digest, 7, sizeof digest);
  unsigned char sig[256];
  double seconds = atof(argv[5]);
  long done = 0;
  double start = now();
  while (now() - start < seconds) {
    CK_ULONG len = sizeof sig;
    digest[0] = (unsigned char)done;
    CHECK(f->C_SignInit(session, &mech, key));
    CHECK(f->C_Sign(session, digest, sizeof digest, sig, &len));
    done++;
  }
  printf("%f\n", done / (now() - start));
  f->C_CloseSession(session);
  f->C_Finalize(NULL);
  return 0;
}
