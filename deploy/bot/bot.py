"""Example trading bot: picks up the token that dhan-token-keeper writes to the shared volume.

It re-reads the env file whenever it changes, so a renewed token is used without a restart
(a renewal kills the old token at once). It looks twice a second (one stat call), so it holds
the new token within a second of the swap. Replace the print with your dhanhq client setup:
    dhan = dhanhq(DhanContext(token["DHAN_CLIENT_ID"], token["DHAN_ACCESS_TOKEN"]))
"""

import hashlib
import os
import sys
import time

TOKEN_FILE = os.environ.get("TOKEN_FILE", "/tokens/main.env")
POLL_SECONDS = float(os.environ.get("POLL_SECONDS", "0.5"))


def read_env_file(path):
    """KEY=VALUE lines, as the keeper's env sink writes them (values may be quoted)."""
    values = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#") or "=" not in line:
                continue
            key, _, value = line.partition("=")
            key = key.strip().removeprefix("export ").strip()
            value = value.strip()
            if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
                value = value[1:-1]
            values[key] = value
    return values


def main():
    seen = None
    waiting = False
    print(f"bot: watching {TOKEN_FILE}", flush=True)
    while True:
        try:
            stat = os.stat(TOKEN_FILE)
            stamp = (stat.st_mtime_ns, stat.st_ino)
            if stamp != seen:
                token = read_env_file(TOKEN_FILE)
                access = token.get("DHAN_ACCESS_TOKEN", "")
                # Never print the token itself: a short hash tells swaps apart in the log.
                fingerprint = hashlib.sha256(access.encode()).hexdigest()[:12] if access else "none"
                print(
                    f"bot: token for client {token.get('DHAN_CLIENT_ID', '?')} "
                    f"(fingerprint {fingerprint}) expires at {token.get('DHAN_TOKEN_EXPIRES_AT', '?')}",
                    flush=True,
                )
                seen = stamp
                waiting = False
        except FileNotFoundError:
            if not waiting:
                print(f"bot: {TOKEN_FILE} not there yet; waiting for the keeper", flush=True)
                waiting = True
            seen = None
        except OSError as err:
            print(f"bot: cannot read {TOKEN_FILE}: {err}", file=sys.stderr, flush=True)
        time.sleep(POLL_SECONDS)


if __name__ == "__main__":
    main()
