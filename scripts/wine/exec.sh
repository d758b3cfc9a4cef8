#!/usr/bin/env bash
# Runs a Windows program under Wine: `scripts/wine/exec.sh PROGRAM.exe ARGS…` (node.sh is this with
# Windows Node.js as the program). The first use sets everything up (setup.sh). WINEPREFIX is
# honoured when set (default .cache/wine/prefix); WINEDEBUG defaults to -all. Windows programs under
# Wine cannot write to a pipe, so stdout and stderr go to files that are passed through as they grow;
# stdin, when it is not a terminal, is passed as a file. The exit code is the program's.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
if [ "$#" -lt 1 ]; then
  echo "usage: scripts/wine/exec.sh PROGRAM [ARGS…]" >&2
  exit 2
fi
env_lines=$("$here/setup.sh")
WINE=$(sed -n 's/^WINE=//p' <<<"$env_lines")
WINE_PREFIX=$(sed -n 's/^WINE_PREFIX=//p' <<<"$env_lines")
program="$1"
shift
[ "$program" = "node" ] && program=$(sed -n 's/^WINE_NODE=//p' <<<"$env_lines")

work=$(mktemp -d "${TMPDIR:-/tmp}/keystore-wine.XXXXXX")
out="$work/stdout" err="$work/stderr" in="$work/stdin"
: >"$out"
: >"$err"
if [ -t 0 ]; then in=/dev/null; else cat >"$in"; fi

export WINEPREFIX="$WINE_PREFIX"
export WINEDEBUG="${WINEDEBUG:--all}"
export WINEDLLOVERRIDES="${WINEDLLOVERRIDES:-mscoree,mshtml=}"
export NODE_SKIP_PLATFORM_CHECK=1

"$WINE" "$program" "$@" <"$in" >"$out" 2>"$err" &
pid=$!
tail -f -n +1 --pid="$pid" "$out" &
tail_out=$!
tail -f -n +1 --pid="$pid" "$err" >&2 &
tail_err=$!
forward() { kill -"$1" "$pid" 2>/dev/null || true; }
trap 'forward INT' INT
trap 'forward TERM' TERM
set +e
wait "$pid"
rc=$?
# `wait` returns early when a trapped signal arrives: wait again for the program itself.
while kill -0 "$pid" 2>/dev/null; do
  wait "$pid"
  rc=$?
done
wait "$tail_out" "$tail_err" 2>/dev/null
set -e
rm -rf "$work"
exit "$rc"
