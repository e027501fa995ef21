"""
TokenFollower against a real dhan-token-keeper and the Dhan simulator.

Run through `npm test` (test/e2e/python-client.test.ts), which starts the simulator, writes the
keeper's config and passes it here in DTK_* variables; this file starts, restarts and stops
the keeper itself. Without those variables every test fails with a message saying so.
"""

import json
import os
import subprocess
import threading
import time
import unittest
import urllib.request
from datetime import datetime

from dhan_token_keeper import (
    ForbiddenError,
    LiveClient,
    NoLiveTokenError,
    Token,
    TokenFollower,
    UnauthorizedError,
    UnknownClientError,
    dhanhq_factory,
)


def env(name):
    value = os.environ.get(name)
    if not value:
        raise AssertionError(f"{name} is not set: run these tests through `npm test` (test/e2e/python-client.test.ts)")
    return value


class Keeper:
    """`dhan-token-keeper run` as a child process, with its JSON log lines kept."""

    def __init__(self):
        self.proc = None
        self.lines = []
        self.lock = threading.Lock()

    def start(self):
        self.proc = subprocess.Popen(
            [env("DTK_NODE"), env("DTK_CLI"), "run", "--config", env("DTK_CONFIG")],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        threading.Thread(target=self._read, args=(self.proc,), daemon=True).start()
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                with urllib.request.urlopen(env("DTK_KEEPER_URL") + "/healthz", timeout=1) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.1)
        raise AssertionError("the keeper did not come up:\n" + "".join(self.lines[-40:]))

    def _read(self, proc):
        for line in proc.stdout:
            with self.lock:
                self.lines.append(line)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(15)
        if self.proc and self.proc.stdout:
            self.proc.stdout.close()

    def swap_logged_at(self, fingerprint):
        """When the keeper logged the swap to this token (the log line follows the commit in the same tick)."""
        with self.lock:
            for line in self.lines:
                if fingerprint in line and line.startswith("{"):
                    entry = json.loads(line)
                    if entry.get("fingerprint") == fingerprint and "token for" in entry.get("msg", ""):
                        # pino writes ISO 8601 in UTC with a Z.
                        return datetime.fromisoformat(entry["time"].replace("Z", "+00:00")).timestamp()
        return None


def cli(*args):
    return subprocess.run([env("DTK_NODE"), env("DTK_CLI"), *args, "--config", env("DTK_CONFIG")],
                          capture_output=True, text=True, timeout=60)


def wait_until(check, timeout, what):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


class FollowerTest(unittest.TestCase):
    keeper = None

    @classmethod
    def setUpClass(cls):
        cls.keeper = Keeper()
        cls.keeper.start()
        probe = TokenFollower(env("DTK_KEEPER_URL"), env("DTK_API_KEY"), env("DTK_CLIENT_ID"))

        def live():
            try:
                return probe.fetch()
            except NoLiveTokenError:
                return None

        wait_until(live, 30, "the first token")

    @classmethod
    def tearDownClass(cls):
        cls.keeper.stop()

    def follower(self, **kwargs):
        f = TokenFollower(env("DTK_KEEPER_URL"), env("DTK_API_KEY"), env("DTK_CLIENT_ID"), **kwargs)
        self.addCleanup(f.stop)
        return f

    def test_current_returns_the_live_token_and_never_prints_it(self):
        token = self.follower().current()
        self.assertIsInstance(token, Token)
        self.assertEqual(token.client_id, env("DTK_CLIENT_ID"))
        self.assertTrue(token.access_token)
        self.assertGreater(token.expires_at.timestamp(), time.time())
        self.assertNotIn(token.access_token, repr(token))
        self.assertNotIn(token.access_token, str(token))

    def test_a_swap_reaches_the_callback_within_100_ms(self):
        seen = []
        follower = self.follower(on_swap=lambda t: seen.append((time.time(), t)))
        follower.start()
        first = wait_until(lambda: seen and seen[0][1], 10, "the first callback")
        result = cli("renew", env("DTK_CLIENT_ID"))
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        at, token = wait_until(lambda: len(seen) >= 2 and seen[-1], 10, "the swap's callback")
        self.assertNotEqual(token.fingerprint, first.fingerprint)
        logged = wait_until(lambda: self.keeper.swap_logged_at(token.fingerprint), 5, "the keeper's swap log line")
        lag_ms = (at - logged) * 1000
        print(f"\npython follower: swap seen {lag_ms:.1f} ms after the keeper committed it")
        self.assertLess(lag_ms, 100)
        self.assertEqual(follower.current().fingerprint, token.fingerprint)

    def test_survives_a_keeper_restart(self):
        seen = []
        errors = []
        follower = self.follower(on_swap=seen.append, on_error=errors.append, backoff_initial=0.1, backoff_max=1.0)
        follower.start()
        wait_until(lambda: seen, 10, "the first callback")
        self.keeper.stop()
        wait_until(lambda: errors, 10, "the follower noticing the keeper is gone")
        self.keeper.start()
        result = cli("renew", env("DTK_CLIENT_ID"))
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        new_fp = wait_until(lambda: len(seen) >= 2 and seen[-1].fingerprint, 20, "a swap after the restart")
        self.assertNotEqual(new_fp, seen[0].fingerprint)
        wait_until(lambda: follower.consecutive_errors == 0, 5, "the follower to recover")
        self.assertIsNone(follower.last_error)

    def test_typed_errors(self):
        url = env("DTK_KEEPER_URL")
        with self.assertRaises(UnauthorizedError) as caught:
            TokenFollower(url, "not-a-key-of-this-keeper", env("DTK_CLIENT_ID")).fetch()
        self.assertEqual(caught.exception.status, 401)
        with self.assertRaises(ForbiddenError):
            TokenFollower(url, env("DTK_OTHER_KEY"), env("DTK_CLIENT_ID")).fetch()
        with self.assertRaises(UnknownClientError):
            TokenFollower(url, env("DTK_API_KEY"), "1999999999").fetch()
        with self.assertRaises(NoLiveTokenError) as caught:
            TokenFollower(url, env("DTK_API_KEY"), env("DTK_NO_TOKEN_CLIENT")).fetch()
        self.assertEqual(caught.exception.status, 503)
        self.assertGreater(caught.exception.retry_after, 0)

    def test_live_client_rebuilds_the_sdk_object_on_every_swap(self):
        class FakeContext:
            def __init__(self, client_id, access_token):
                self.client_id, self.access_token = client_id, access_token

        class FakeDhan:
            def __init__(self, context):
                self.context = context

        follower = self.follower()
        live = LiveClient(follower, dhanhq_factory(FakeContext, FakeDhan))
        follower.start()
        first = live.get()
        self.assertEqual(first.context.client_id, env("DTK_CLIENT_ID"))
        self.assertEqual(first.context.access_token, follower.current().access_token)
        result = cli("renew", env("DTK_CLIENT_ID"))
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        second = wait_until(lambda: live.get() is not first and live.get(), 10, "a rebuilt SDK object")
        self.assertNotEqual(second.context.access_token, first.context.access_token)
        self.assertEqual(live.fingerprint, follower.current().fingerprint)


if __name__ == "__main__":
    unittest.main()
