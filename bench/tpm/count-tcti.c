/*
 * A TCTI that counts the TPM commands passing through it, for the TPM benchmark's "commands per
 * signature". It wraps any other TCTI: in a FAPI config, `"tcti": "/path/libtcti-count.so:swtpm:port=P"`.
 * The counts live in the file named by env KEYSTORE_TCTI_COUNT (mapped shared, so every process and
 * thread adds to the same table): slot 0 is the total, slot 1 + (cc - 0x11f) the count per command code.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <tss2/tss2_tcti.h>
#include <tss2/tss2_tctildr.h>

#define SLOTS 256
#define FIRST_CC 0x11f

typedef struct {
  TSS2_TCTI_CONTEXT_COMMON_V2 common;
  TSS2_TCTI_CONTEXT *inner;
  uint64_t *counts;
} COUNT_CONTEXT;

static COUNT_CONTEXT *self(TSS2_TCTI_CONTEXT *c) { return (COUNT_CONTEXT *)c; }

static TSS2_RC transmit(TSS2_TCTI_CONTEXT *c, size_t size, const uint8_t *command) {
  COUNT_CONTEXT *x = self(c);
  if (x->counts != NULL && size >= 10) {
    uint32_t cc = (uint32_t)command[6] << 24 | (uint32_t)command[7] << 16 | (uint32_t)command[8] << 8 | command[9];
    __atomic_add_fetch(&x->counts[0], 1, __ATOMIC_RELAXED);
    if (cc >= FIRST_CC && cc < FIRST_CC + SLOTS - 1) __atomic_add_fetch(&x->counts[1 + cc - FIRST_CC], 1, __ATOMIC_RELAXED);
  }
  return Tss2_Tcti_Transmit(x->inner, size, command);
}
static TSS2_RC receive(TSS2_TCTI_CONTEXT *c, size_t *size, uint8_t *response, int32_t timeout) {
  return Tss2_Tcti_Receive(self(c)->inner, size, response, timeout);
}
static void finalize(TSS2_TCTI_CONTEXT *c) {
  COUNT_CONTEXT *x = self(c);
  Tss2_TctiLdr_Finalize(&x->inner);
  if (x->counts != NULL) munmap(x->counts, SLOTS * sizeof(uint64_t));
  x->counts = NULL;
}
static TSS2_RC cancel(TSS2_TCTI_CONTEXT *c) { return Tss2_Tcti_Cancel(self(c)->inner); }
static TSS2_RC poll_handles(TSS2_TCTI_CONTEXT *c, TSS2_TCTI_POLL_HANDLE *h, size_t *n) {
  return Tss2_Tcti_GetPollHandles(self(c)->inner, h, n);
}
static TSS2_RC set_locality(TSS2_TCTI_CONTEXT *c, uint8_t locality) {
  return Tss2_Tcti_SetLocality(self(c)->inner, locality);
}
static TSS2_RC make_sticky(TSS2_TCTI_CONTEXT *c, TPM2_HANDLE *handle, uint8_t sticky) {
  return Tss2_Tcti_MakeSticky(self(c)->inner, handle, sticky);
}

static TSS2_RC init(TSS2_TCTI_CONTEXT *c, size_t *size, const char *conf) {
  if (size == NULL) return TSS2_TCTI_RC_BAD_VALUE;
  if (c == NULL) {
    *size = sizeof(COUNT_CONTEXT);
    return TSS2_RC_SUCCESS;
  }
  COUNT_CONTEXT *x = self(c);
  memset(x, 0, sizeof(*x));
  TSS2_RC rc = Tss2_TctiLdr_Initialize(conf, &x->inner);
  if (rc != TSS2_RC_SUCCESS) return rc;
  const char *file = getenv("KEYSTORE_TCTI_COUNT");
  if (file != NULL) {
    int fd = open(file, O_RDWR);
    if (fd >= 0) {
      void *p = mmap(NULL, SLOTS * sizeof(uint64_t), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
      close(fd);
      if (p != MAP_FAILED) x->counts = p;
    }
  }
  x->common.v1.magic = 0x434f554e54ULL;
  x->common.v1.version = 2;
  x->common.v1.transmit = transmit;
  x->common.v1.receive = receive;
  x->common.v1.finalize = finalize;
  x->common.v1.cancel = cancel;
  x->common.v1.getPollHandles = poll_handles;
  x->common.v1.setLocality = set_locality;
  x->common.makeSticky = make_sticky;
  return TSS2_RC_SUCCESS;
}

static const TSS2_TCTI_INFO info = {
  .version = 2,
  .name = "count",
  .description = "counts TPM commands, then passes them to another TCTI",
  .config_help = "the other TCTI's name:config, e.g. swtpm:port=2321",
  .init = init,
};

const TSS2_TCTI_INFO *Tss2_Tcti_Info(void) { return &info; }
