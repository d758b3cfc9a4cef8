#!/usr/bin/env bash
# Behaves like `node ARGS…`, with Windows Node.js under Wine. Run it from the repository root:
#   scripts/wine/node.sh packages/cli/dist/bin.js doctor
# The first use fetches Windows Node.js and koffi's Windows build and prepares the Wine prefix
# (setup.sh). The workspace's built packages resolve as they do for Linux Node. See exec.sh for how
# WINEPREFIX, WINEDEBUG, stdin, stdout, stderr and the exit code are handled.
set -euo pipefail
exec "$(cd "$(dirname "$0")" && pwd)/exec.sh" node "$@"
