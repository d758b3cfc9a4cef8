/*
 * The C baselines of the TPM benchmark: sign one digest in a loop for a given time, with one thread
 * per context, and print "<signatures> <seconds>" (the longest thread's signing time, set-up excluded).
 *
 *   sign-loop fapi KEYPATH PADDING|- SECONDS THREADS
 *       Fapi_Sign on the key, as an application calling FAPI directly does.
 *   sign-loop esys KEYPATH PADDING|- SECONDS THREADS SRK_HANDLE TCTI [hmac]
 *       Fapi_GetTpmBlobs once, Esys_Load under the profile's SRK (persistent at SRK_HANDLE), then only
 *       Esys_Sign on the loaded handle (one TPM2_Sign per signature). With "hmac", the commands use a
 *       salted HMAC session (AES-128-CFB parameter encryption of the digest) started once, as the
 *       provider's loaded-key path does; without it, a password session (nothing encrypted).
 *
 * FAPI reads its config from TSS2_FAPICONF. PADDING is RSA_SSA, RSA_PSS or "-" (ECDSA).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <tss2/tss2_esys.h>
#include <tss2/tss2_fapi.h>
#include <tss2/tss2_mu.h>
#include <tss2/tss2_tctildr.h>

static const char *mode, *key_path, *padding, *tcti_conf;
static double seconds;
static TPM2_HANDLE srk_handle;
static int hmac;
static uint8_t digest[32];
static pthread_mutex_t fapi_init = PTHREAD_MUTEX_INITIALIZER;

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec / 1e9;
}

static void fail(const char *what, TSS2_RC rc) {
  fprintf(stderr, "sign-loop: %s failed: 0x%x\n", what, rc);
  exit(2);
}

static FAPI_CONTEXT *open_fapi(void) {
  FAPI_CONTEXT *ctx = NULL;
  pthread_mutex_lock(&fapi_init);
  TSS2_RC rc = Fapi_Initialize(&ctx, NULL);
  pthread_mutex_unlock(&fapi_init);
  if (rc) fail("Fapi_Initialize", rc);
  return ctx;
}

typedef struct {
  long signatures;
  double elapsed;
} RESULT;

static void fapi_loop(RESULT *out) {
  FAPI_CONTEXT *ctx = open_fapi();
  long n = 0;
  double start = now(), end = start + seconds;
  do {
    uint8_t *sig = NULL;
    size_t sig_size = 0;
    char *pub = NULL, *cert = NULL;
    TSS2_RC rc = Fapi_Sign(ctx, key_path, padding, digest, sizeof digest, &sig, &sig_size, &pub, &cert);
    if (rc) fail("Fapi_Sign", rc);
    Fapi_Free(sig);
    Fapi_Free(pub);
    Fapi_Free(cert);
    n++;
  } while (now() < end);
  out->elapsed = now() - start;
  out->signatures = n;
  Fapi_Finalize(&ctx);
}

static void esys_loop(RESULT *out) {
  FAPI_CONTEXT *fapi = open_fapi();
  uint8_t *pub_blob = NULL, *priv_blob = NULL;
  size_t pub_size = 0, priv_size = 0;
  char *policy = NULL;
  TSS2_RC rc = Fapi_GetTpmBlobs(fapi, key_path, &pub_blob, &pub_size, &priv_blob, &priv_size, &policy);
  if (rc) fail("Fapi_GetTpmBlobs", rc);
  TPM2B_PUBLIC pub = {0};
  TPM2B_PRIVATE priv = {0};
  size_t off = 0;
  if ((rc = Tss2_MU_TPM2B_PUBLIC_Unmarshal(pub_blob, pub_size, &off, &pub))) fail("unmarshal public", rc);
  off = 0;
  if ((rc = Tss2_MU_TPM2B_PRIVATE_Unmarshal(priv_blob, priv_size, &off, &priv))) fail("unmarshal private", rc);
  Fapi_Free(pub_blob);
  Fapi_Free(priv_blob);
  Fapi_Free(policy);
  Fapi_Finalize(&fapi);

  TSS2_TCTI_CONTEXT *tcti = NULL;
  ESYS_CONTEXT *esys = NULL;
  if ((rc = Tss2_TctiLdr_Initialize(tcti_conf, &tcti))) fail("Tss2_TctiLdr_Initialize", rc);
  if ((rc = Esys_Initialize(&esys, tcti, NULL))) fail("Esys_Initialize", rc);
  ESYS_TR srk = ESYS_TR_NONE, key = ESYS_TR_NONE, session = ESYS_TR_PASSWORD;
  if ((rc = Esys_TR_FromTPMPublic(esys, srk_handle, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &srk)))
    fail("Esys_TR_FromTPMPublic", rc);
  if (hmac) {
    TPMT_SYM_DEF sym = {.algorithm = TPM2_ALG_AES, .keyBits = {.aes = 128}, .mode = {.aes = TPM2_ALG_CFB}};
    if ((rc = Esys_StartAuthSession(esys, srk, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, NULL,
                                    TPM2_SE_HMAC, &sym, TPM2_ALG_SHA256, &session)))
      fail("Esys_StartAuthSession", rc);
    if ((rc = Esys_TRSess_SetAttributes(esys, session, TPMA_SESSION_CONTINUESESSION | TPMA_SESSION_DECRYPT, 0xff)))
      fail("Esys_TRSess_SetAttributes", rc);
  }
  if ((rc = Esys_Load(esys, srk, session, ESYS_TR_NONE, ESYS_TR_NONE, &priv, &pub, &key))) fail("Esys_Load", rc);

  TPM2B_DIGEST in = {.size = sizeof digest};
  memcpy(in.buffer, digest, sizeof digest);
  TPMT_SIG_SCHEME scheme = {.scheme = TPM2_ALG_ECDSA};
  if (strcmp(padding, "RSA_SSA") == 0) scheme.scheme = TPM2_ALG_RSASSA;
  if (strcmp(padding, "RSA_PSS") == 0) scheme.scheme = TPM2_ALG_RSAPSS;
  scheme.details.any.hashAlg = TPM2_ALG_SHA256;
  TPMT_TK_HASHCHECK check = {.tag = TPM2_ST_HASHCHECK, .hierarchy = TPM2_RH_NULL};
  long n = 0;
  double start = now(), end = start + seconds;
  do {
    TPMT_SIGNATURE *sig = NULL;
    if ((rc = Esys_Sign(esys, key, session, ESYS_TR_NONE, ESYS_TR_NONE, &in, &scheme, &check, &sig)))
      fail("Esys_Sign", rc);
    Esys_Free(sig);
    n++;
  } while (now() < end);
  out->elapsed = now() - start;
  out->signatures = n;
  Esys_FlushContext(esys, key);
  if (hmac) Esys_FlushContext(esys, session);
  Esys_Finalize(&esys);
  Tss2_TctiLdr_Finalize(&tcti);
}

static void *worker(void *out) {
  if (strcmp(mode, "fapi") == 0) fapi_loop(out);
  else esys_loop(out);
  return NULL;
}

int main(int argc, char **argv) {
  if (argc < 6 || (strcmp(argv[1], "esys") == 0 && argc < 8)) {
    fprintf(stderr, "usage: sign-loop fapi|esys KEYPATH PADDING|- SECONDS THREADS [SRK_HANDLE TCTI [hmac]]\n");
    return 1;
  }
  mode = argv[1];
  key_path = argv[2];
  padding = strcmp(argv[3], "-") == 0 ? NULL : argv[3];
  seconds = atof(argv[4]);
  int threads = atoi(argv[5]);
  if (strcmp(mode, "esys") == 0) {
    srk_handle = (TPM2_HANDLE)strtoul(argv[6], NULL, 0);
    tcti_conf = argv[7];
    hmac = argc > 8 && strcmp(argv[8], "hmac") == 0;
    if (padding == NULL) padding = "-";
  }
  for (size_t i = 0; i < sizeof digest; i++) digest[i] = (uint8_t)(i * 7 + 1);
  if (threads < 1 || threads > 16) threads = 1;
  pthread_t tid[16];
  RESULT results[16] = {{0}};
  for (int i = 0; i < threads; i++) pthread_create(&tid[i], NULL, worker, &results[i]);
  long total = 0;
  double elapsed = 0;
  for (int i = 0; i < threads; i++) {
    pthread_join(tid[i], NULL);
    total += results[i].signatures;
    if (results[i].elapsed > elapsed) elapsed = results[i].elapsed;
  }
  /* Signatures, and the longest thread's signing time (set-up excluded). */
  printf("%ld %.6f\n", total, elapsed);
  return 0;
}
