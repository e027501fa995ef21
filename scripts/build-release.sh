#!/usr/bin/env bash
# Builds a runnable release of dhan-token-keeper into OUTDIR: dist/, package.json,
# package-lock.json and production node_modules (better-sqlite3 compiled for this Node).
#
# The one build recipe: the Dockerfile runs it in its build stage and CI runs it into a fresh
# folder, so what CI starts as a non-root user is what the image ships.
#
# Usage: scripts/build-release.sh OUTDIR
# OUTDIR must not exist or be empty. Needs node, npm, and python3/make/g++ when no prebuilt
# better-sqlite3 binary can be downloaded.
set -euo pipefail

if [[ $# -ne 1 || "$1" == -* ]]; then
  echo "usage: $0 OUTDIR" >&2
  exit 2
fi
src="$(cd "$(dirname "$0")/.." && pwd)"
out="$1"
if [[ -e "$out" && -n "$(ls -A "$out")" ]]; then
  echo "error: $out is not empty; give a new or empty folder" >&2
  exit 2
fi
mkdir -p "$out"
out="$(cd "$out" && pwd)"

# Build in a copy, never in the source tree: `npm ci` there would delete the node_modules
# that a developer's editor or a running test suite is using.
work="$(mktemp -d "${TMPDIR:-/tmp}/dhan-token-keeper-build.XXXXXX")"
trap 'rm -rf "$work"' EXIT
cp -R "$src/package.json" "$src/package-lock.json" "$src/tsconfig.json" "$src/tsconfig.build.json" "$src/src" "$work/"

echo "build-release: compiling in $work" >&2
# --ignore-scripts: the compiler needs no native addon, so better-sqlite3 is compiled once,
# below, for the release only.
(cd "$work" && npm ci --ignore-scripts --no-audit --no-fund && npm run build)

echo "build-release: installing production dependencies in $out" >&2
cp -R "$work/dist" "$work/package.json" "$work/package-lock.json" "$out/"
for extra in config.example.yaml LICENSE README.md; do
  if [[ -f "$src/$extra" ]]; then cp "$src/$extra" "$out/"; fi
done
(cd "$out" && npm ci --omit=dev --no-audit --no-fund)

# node-gyp leaves the addon's sources and its object files beside it (SQLite's amalgamation,
# obj/, obj.target/, a static library: about 25 MB); better-sqlite3 loads only
# build/Release/better_sqlite3.node. The release is for the Node it was built with.
addon="$out/node_modules/better-sqlite3"
if [[ -f "$addon/build/Release/better_sqlite3.node" ]]; then
  find "$addon/build" -mindepth 1 -maxdepth 1 ! -name Release -exec rm -rf {} +
  find "$addon/build/Release" -mindepth 1 -maxdepth 1 ! -name better_sqlite3.node -exec rm -rf {} +
  rm -rf "$addon/deps" "$addon/src" "$addon/binding.gyp"
fi

# A release that cannot load its native addon would only fail at the first token refresh.
(cd "$out" && node -e "new (require('better-sqlite3'))(':memory:').close()")
node "$out/dist/cli.js" version
echo "build-release: done: $out" >&2
