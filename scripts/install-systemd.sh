#!/usr/bin/env bash
# Installs dhan-token-keeper as a systemd service: system user, folders, root-only
# credentials folder, config (kept if present), unit; then daemon-reload and enable --now.
# Safe to run again (after an upgrade, or to check a setup): it changes only what is missing
# or out of date and never overwrites the config or the credentials.
#
# Usage: sudo scripts/install-systemd.sh [--bin PATH] [--release DIR] [--dry-run] [--prefix DIR]
#   --bin PATH     the installed CLI (default: dhan-token-keeper on PATH, else
#                  /usr/bin/dhan-token-keeper); written into the unit's ExecStart.
#   --release DIR  install a folder built by scripts/build-release.sh to /opt/dhan-token-keeper
#                  and link /usr/local/bin/dhan-token-keeper to it (implies --bin).
#   --dry-run      print what would be done, change nothing.
#   --prefix DIR   install the files under DIR instead of / (for packaging and tests); users,
#                  ownership and systemctl are skipped, since they would act on this machine.
set -euo pipefail

name=dhan-token-keeper
repo="$(cd "$(dirname "$0")/.." && pwd)"
bin=""
release=""
dry_run=0
prefix=""

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }
while [[ $# -gt 0 ]]; do
  case "$1" in
    --bin) bin="${2:?--bin needs a path}"; shift 2 ;;
    --release) release="${2:?--release needs a folder}"; shift 2 ;;
    --dry-run) dry_run=1; shift ;;
    --prefix) prefix="${2:?--prefix needs a folder}"; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "error: unknown argument $1" >&2; usage >&2; exit 2 ;;
  esac
done
if [[ -n "$prefix" ]]; then
  mkdir -p "$prefix"
  prefix="$(cd "$prefix" && pwd)"
fi
on_system=$([[ -z "$prefix" ]] && echo 1 || echo 0)

if [[ $dry_run -eq 0 && $on_system -eq 1 && $(id -u) -ne 0 ]]; then
  echo "error: run as root (sudo $0), or use --dry-run to see what it would do" >&2
  exit 2
fi

run() {
  if [[ $dry_run -eq 1 ]]; then
    printf '+'; printf ' %q' "$@"; printf '\n'
  else
    "$@"
  fi
}
note() { printf '%s: %s\n' "$name" "$*" >&2; }

etc="$prefix/etc/$name"
creds="$etc/credentials"
unit_dir="$prefix/etc/systemd/system"
unit="$unit_dir/$name.service"
opt="$prefix/opt/$name"

# install -d with owner and group only when acting on this machine.
make_dir() { # mode owner group path
  if [[ $on_system -eq 1 ]]; then run install -d -m "$1" -o "$2" -g "$3" "$4"
  else run install -d -m "$1" "$4"; fi
}
install_file() { # mode owner group source target
  if [[ $on_system -eq 1 ]]; then run install -m "$1" -o "$2" -g "$3" "$4" "$5"
  else run install -m "$1" "$4" "$5"; fi
}

# 1. The program.
if [[ -n "$release" ]]; then
  [[ -f "$release/dist/cli.js" ]] || { echo "error: $release/dist/cli.js not found: build it with scripts/build-release.sh DIR" >&2; exit 2; }
  # Copy next to the old version, then swap, so a running service never sees half a release.
  run rm -rf "$opt.new"
  run mkdir -p "$(dirname "$opt")"
  run cp -R "$release" "$opt.new"
  run chmod -R u=rwX,go=rX "$opt.new"
  run rm -rf "$opt.old"
  if [[ -e "$opt" ]]; then run mv "$opt" "$opt.old"; fi
  run mv "$opt.new" "$opt"
  run rm -rf "$opt.old"
  run chmod 0755 "$opt/dist/cli.js"
  run mkdir -p "$prefix/usr/local/bin"
  run ln -sfn "/opt/$name/dist/cli.js" "$prefix/usr/local/bin/$name"
  bin="/usr/local/bin/$name"
fi
if [[ -z "$bin" ]]; then
  bin="$(command -v "$name" || true)"
  bin="${bin:-/usr/bin/$name}"
fi
case "$bin" in
  /*) ;;
  *) echo "error: --bin must be an absolute path, not $bin" >&2; exit 2 ;;
esac
case "$(readlink -f "$prefix$bin" 2>/dev/null || echo "$bin")" in
  /home/*|/root/*|"$prefix"/home/*|"$prefix"/root/*)
    # ProtectHome=yes hides these from the service.
    echo "error: $bin lives under a home folder, which the service cannot see (ProtectHome=yes); install it system-wide (as root: npm install -g /path/to/a/checkout; the package is not on npm) or use --release" >&2
    exit 2 ;;
esac
if [[ $on_system -eq 1 && $dry_run -eq 0 && ! -x "$bin" ]]; then
  echo "error: $bin not found: build a release (scripts/build-release.sh DIR) and pass --release DIR, or give --bin PATH (the package is not on npm)" >&2
  exit 2
fi
node_real="$(readlink -f "$(command -v node || echo /)")"
if [[ $on_system -eq 1 && ( "$node_real" == /home/* || "$node_real" == /root/* ) ]]; then
  # The CLI starts with "#!/usr/bin/env node", resolved in the service's sandbox.
  note "warning: node is $node_real, under a home folder (nvm?): the service cannot run it; install Node.js system-wide"
fi

# 2. The user: a system account with no login; bots join its group to read token files.
if [[ $on_system -eq 1 ]]; then
  if ! getent group "$name" >/dev/null; then run groupadd --system "$name"; fi
  if ! id -u "$name" >/dev/null 2>&1; then
    run useradd --system --gid "$name" --home-dir "/var/lib/$name" --no-create-home \
      --shell /usr/sbin/nologin --comment "Dhan token keeper" "$name"
  fi
fi

# 3. Folders, as the unit's ConfigurationDirectory= expects them. No secrets in config.yaml,
# which only the service's group may read; the credentials folder is root's alone: systemd
# reads it as root for LoadCredential=.
make_dir 0755 root root "$etc"
make_dir 0700 root root "$creds"
if [[ -e "$etc/config.yaml" ]]; then
  note "keeping $etc/config.yaml"
else
  install_file 0640 root "$name" "$repo/systemd/config.yaml" "$etc/config.yaml"
fi

# 4. The unit, with ExecStart pointing at the CLI found above.
make_dir 0755 root root "$unit_dir"
tmp_unit="$(mktemp)"
trap 'rm -f "$tmp_unit"' EXIT
sed "s#^ExecStart=/usr/bin/$name #ExecStart=$bin #" "$repo/systemd/$name.service" >"$tmp_unit"
if [[ -f "$unit" ]] && cmp -s "$tmp_unit" "$unit"; then
  note "$unit is up to date"
  unit_changed=0
else
  install_file 0644 root root "$tmp_unit" "$unit"
  unit_changed=1
fi

# 5. Start it, once the credentials it loads exist: without them systemd refuses to start it.
missing=()
for cred in pin totp; do
  if [[ ! -s "$creds/$cred" ]]; then missing+=("$cred"); fi
done
if [[ $on_system -eq 0 ]]; then
  note "installed under $prefix; skipped systemctl"
  exit 0
fi
run systemctl daemon-reload
if [[ ${#missing[@]} -gt 0 ]]; then
  run systemctl enable "$name.service"
  note "not started: missing credentials: ${missing[*]}. Write them (one line each), then start:"
  for cred in "${missing[@]}"; do
    what=$([[ $cred == pin ]] && echo "your 6-digit Dhan PIN" || echo "your TOTP secret (base32)")
    note "  sudo sh -c 'umask 077; cat > $creds/$cred'    # paste $what, then Ctrl-D"
  done
  note "  edit $etc/config.yaml (clientId), then: sudo systemctl start $name"
  exit 0
fi
if [[ $dry_run -eq 0 ]] && systemctl is-active --quiet "$name.service" && [[ $unit_changed -eq 1 || -n "$release" ]]; then
  # Pick up the new unit or release; the keeper hands over its lease on SIGTERM.
  run systemctl restart "$name.service"
fi
run systemctl enable --now "$name.service"
note "running: systemctl status $name; journalctl -u $name -f"
