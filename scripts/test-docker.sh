#!/usr/bin/env bash
# Builds the image and runs it for real (test/docker/container.test.ts): the README's Docker
# commands, the keeper in its container beside a bot container against the simulator, the
# healthcheck, a stop and an upgrade, and deploy/*.yml through `docker-compose config`.
#
# Usage: sudo scripts/test-docker.sh [--install] [--registry] [--data-root DIR]
#   --install        apt-get install what is missing (docker.io, debootstrap, docker-compose); CI does
#   --registry       build on the Dockerfile's registry images (node:VERSION-bookworm[-slim])
#                    instead of base images made here by scripts/build-base-image.sh
#   --data-root DIR  keep the daemon's images in DIR for the next run (default: a temporary
#                    folder, removed at the end)
# With DOCKER_HOST set, that daemon is used. Otherwise the script starts a dockerd of its own
# (root; the vfs storage driver; no bridge, no iptables; its own data root, exec root and socket)
# and stops it, by pid, when done. When no daemon can run here (not root, no vfs), it says why
# and exits 0 without testing; the log shows which happened.
set -euo pipefail

repo="$(cd "$(dirname "$0")/.." && pwd)"
install=0
registry=0
data_root=""
usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }
while [[ $# -gt 0 ]]; do
  case "$1" in
    --install) install=1; shift ;;
    --registry) registry=1; shift ;;
    --data-root) data_root="${2:?--data-root needs a folder}"; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "error: unknown argument $1" >&2; usage >&2; exit 2 ;;
  esac
done
say() { echo "test-docker: $*" >&2; }
skip() {
  say "SKIPPED: $*"
  exit 0
}

own_daemon=0
[[ -z "${DOCKER_HOST:-}" ]] && own_daemon=1
if [[ $own_daemon -eq 1 && $(id -u) -ne 0 ]]; then
  skip "a daemon of its own needs root (or set DOCKER_HOST to a running daemon)"
fi

missing=()
command -v docker >/dev/null || missing+=(docker.io)
[[ $own_daemon -eq 1 ]] && ! command -v dockerd >/dev/null && missing+=(docker.io)
[[ $registry -eq 0 ]] && ! command -v debootstrap >/dev/null && missing+=(debootstrap)
command -v docker-compose >/dev/null || missing+=(docker-compose)
if [[ ${#missing[@]} -gt 0 ]]; then
  if [[ $install -eq 0 ]]; then
    echo "error: missing ${missing[*]}: apt-get install ${missing[*]} (or pass --install)" >&2
    exit 2
  fi
  say "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [[ $own_daemon -eq 1 ]]; then
  state="$(mktemp -d "${TMPDIR:-/tmp}/dtk-dockerd.XXXXXX")"
  if [[ -z "$data_root" ]]; then data_root="$state/data"; else mkdir -p "$data_root"; fi
  dockerd_pid=""
  stop_daemon() {
    if [[ -n "$dockerd_pid" ]] && kill -0 "$dockerd_pid" 2>/dev/null; then
      say "stopping dockerd (pid $dockerd_pid)"
      kill -TERM "$dockerd_pid"
      for _ in $(seq 1 60); do kill -0 "$dockerd_pid" 2>/dev/null || break; sleep 0.5; done
      if kill -0 "$dockerd_pid" 2>/dev/null; then
        say "dockerd still runs after 30 s: SIGKILL"
        kill -KILL "$dockerd_pid"
      fi
      wait "$dockerd_pid" 2>/dev/null || true
    fi
    # Anything the daemon left mounted under its folders, then the folders themselves.
    { grep -oE " ($state|$data_root)/[^ ]*" /proc/mounts || true; } | sort -r | while read -r mount; do
      umount -l "$mount" || true
    done
    rm -rf "$state"
  }
  trap stop_daemon EXIT
  say "starting dockerd (vfs, no bridge, no iptables) in $state"
  dockerd --iptables=false --ip6tables=false --bridge=none --storage-driver=vfs \
    --data-root "$data_root" --exec-root "$state/exec" --pidfile "$state/dockerd.pid" \
    --host "unix://$state/docker.sock" >"$state/dockerd.log" 2>&1 &
  dockerd_pid=$!
  export DOCKER_HOST="unix://$state/docker.sock"
  for _ in $(seq 1 60); do
    if ! kill -0 "$dockerd_pid" 2>/dev/null; then
      tail -n 20 "$state/dockerd.log" >&2
      dockerd_pid=""
      skip "dockerd cannot run on this machine (its log is above)"
    fi
    docker version >/dev/null 2>&1 && break
    sleep 0.5
  done
  docker version >/dev/null 2>&1 || { tail -n 20 "$state/dockerd.log" >&2; skip "dockerd did not answer within 30 s"; }
fi
say "daemon: $(docker info -f 'Docker {{.ServerVersion}}, storage driver {{.Driver}}')"

started=$SECONDS
env_args=()
if [[ $registry -eq 0 ]]; then
  images="$("$repo/scripts/build-base-image.sh")"
  NODE_IMAGE="$(sed -n 's/^NODE_IMAGE=//p' <<<"$images")"
  BUILD_IMAGE="$(sed -n 's/^BUILD_IMAGE=//p' <<<"$images")"
  env_args=(DTK_NODE_IMAGE="$NODE_IMAGE" DTK_BUILD_IMAGE="$BUILD_IMAGE")
  say "base images in $((SECONDS - started)) s: $NODE_IMAGE, $BUILD_IMAGE"
fi

say "docker-compose config (Debian's docker-compose $(docker-compose version --short))"
for file in "$repo"/deploy/docker-compose*.yml; do
  docker-compose -f "$file" config -q
  say "  ${file#"$repo"/}: valid"
done

cd "$repo"
env DTK_DOCKER_TEST=1 "${env_args[@]}" npx vitest run test/docker
