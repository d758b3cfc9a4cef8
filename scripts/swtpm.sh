#!/usr/bin/env bash
# A TPM 2.0 simulator (swtpm) on a loopback port, with a FAPI config for @keystore/provider-tpm and
# the tpm2-tools FAPI commands.
#
#   bash scripts/swtpm.sh start [DIR]    fresh state under DIR (default ${TMPDIR:-/tmp}/keystore-swtpm-$TPM_SIM_PORT);
#                                        prints `export TSS2_FAPICONF=… TPM_SIM_PORT=…`
#   bash scripts/swtpm.sh stop [DIR]     stops it (the state stays)
#   bash scripts/swtpm.sh restart [DIR]  stops and starts it again on the same state
#   bash scripts/swtpm.sh status [DIR]
#
# Environment: TPM_SIM_PORT (default 2321; the control channel uses TPM_SIM_PORT+1).
# Needs: swtpm, tpm2-tools (tpm2_getrandom) and libtss2-fapi1 / libtss2-tcti-swtpm0
#   (Debian/Ubuntu: apt-get install swtpm swtpm-tools libtss2-fapi1 libtss2-tcti-swtpm0 tpm2-tools).
set -euo pipefail

PORT="${TPM_SIM_PORT:-2321}"
CTRL=$((PORT + 1))
DIR="${2:-${TMPDIR:-/tmp}/keystore-swtpm-${PORT}}"
STATE="$DIR/state"
FAPI="$DIR/fapi"
PIDFILE="$DIR/swtpm.pid"
CONFIG="$FAPI/fapi-config.json"

die() {
  echo "swtpm.sh: $*" >&2
  exit 1
}

need() {
  command -v "$1" >/dev/null 2>&1 || die "$1 not found; install: apt-get install swtpm swtpm-tools libtss2-fapi1 libtss2-tcti-swtpm0 tpm2-tools"
}

running() {
  [[ -f "$PIDFILE" ]] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null
}

launch() {
  need swtpm
  need tpm2_getrandom
  mkdir -p "$STATE"
  swtpm socket --tpmstate "dir=$STATE" --tpm2 \
    --server "type=tcp,port=$PORT,bindaddr=127.0.0.1" \
    --ctrl "type=tcp,port=$CTRL,bindaddr=127.0.0.1" \
    --flags not-need-init,startup-clear \
    --pid "file=$PIDFILE" --daemon
  for _ in $(seq 1 100); do
    if TSS2_LOG=all+none tpm2_getrandom 8 --hex -T "swtpm:host=127.0.0.1,port=$PORT" >/dev/null 2>&1; then
      return 0
    fi
    sleep 0.05
  done
  die "swtpm did not answer on 127.0.0.1:$PORT"
}

# The same config writeFapiConfig() writes: the two tpm2-tss profiles and a P-384 one, each with its
# own SRK handle (ECC P-256 at 0x81000001, RSA-2048 at 0x81000002, ECC P-384 at 0x81000003), so all
# can be provisioned on one TPM.
write_config() {
  mkdir -p "$FAPI/profiles" "$FAPI/user" "$FAPI/system" "$FAPI/log"
  local shipped=/etc/tpm2-tss/fapi-profiles
  [[ -f "$shipped/P_ECCP256SHA256.json" && -f "$shipped/P_RSA2048SHA256.json" ]] ||
    die "tpm2-tss FAPI profiles not found in $shipped (install libtss2-fapi1)"
  cp "$shipped/P_ECCP256SHA256.json" "$FAPI/profiles/"
  sed 's/0x81000001/0x81000002/' "$shipped/P_RSA2048SHA256.json" >"$FAPI/profiles/P_RSA2048SHA256.json"
  sed -e 's/0x81000001/0x81000003/' -e 's/TPM2_ECC_NIST_P256/TPM2_ECC_NIST_P384/' \
    -e 's/"hashAlg":"TPM2_ALG_SHA256"/"hashAlg":"TPM2_ALG_SHA384"/' \
    "$shipped/P_ECCP256SHA256.json" >"$FAPI/profiles/P_ECCP384SHA384.json"
  grep -q TPM2_ALG_SHA384 "$FAPI/profiles/P_ECCP384SHA384.json" || die "could not derive the P-384 profile"
  cat >"$CONFIG" <<EOF
{
  "profile_name": "P_ECCP256SHA256",
  "profile_dir": "$FAPI/profiles/",
  "user_dir": "$FAPI/user",
  "system_dir": "$FAPI/system",
  "log_dir": "$FAPI/log",
  "tcti": "swtpm:host=127.0.0.1,port=$PORT",
  "system_pcrs": [],
  "ek_cert_less": "yes"
}
EOF
}

stop() {
  if running; then
    local pid
    pid="$(cat "$PIDFILE")"
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.05
    done
    kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$PIDFILE"
}

case "${1:-}" in
start)
  stop
  rm -rf "$DIR"
  mkdir -p "$DIR"
  launch
  write_config
  echo "export TSS2_FAPICONF=$CONFIG"
  echo "export TPM_SIM_PORT=$PORT"
  ;;
stop)
  stop
  ;;
restart)
  [[ -f "$CONFIG" ]] || die "no simulator state in $DIR; run: bash scripts/swtpm.sh start"
  stop
  launch
  echo "export TSS2_FAPICONF=$CONFIG"
  echo "export TPM_SIM_PORT=$PORT"
  ;;
status)
  if running; then echo "swtpm running on 127.0.0.1:$PORT (pid $(cat "$PIDFILE")), config $CONFIG"; else
    echo "swtpm not running ($DIR)"
    exit 1
  fi
  ;;
*)
  echo "usage: bash scripts/swtpm.sh start|stop|restart|status [DIR]" >&2
  exit 2
  ;;
esac
