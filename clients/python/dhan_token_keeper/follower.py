"""TokenFollower: the live token of one account, kept current by the keeper's long-poll."""

import http.client
import json
import logging
import random
import socket
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Callable, List, Optional
from urllib.parse import quote, urlsplit

from .errors import KeeperError, KeeperUnavailableError, error_for

log = logging.getLogger("dhan_token_keeper")

#: Longest wait the keeper grants; a shorter one only adds requests.
DEFAULT_WAIT_SECONDS = 60


@dataclass(frozen=True)
class Token:
    """One token as the keeper hands it out. `access_token` is left out of repr and str."""

    client_id: str
    access_token: str = field(repr=False)
    expires_at: datetime
    expiry_time: str
    source: str
    obtained_at: datetime
    fingerprint: str

    @classmethod
    def from_json(cls, body: dict) -> "Token":
        try:
            return cls(
                client_id=str(body["clientId"]),
                access_token=str(body["accessToken"]),
                expires_at=datetime.fromisoformat(body["expiresAt"]),
                expiry_time=str(body["expiryTime"]),
                source=str(body["source"]),
                obtained_at=datetime.fromisoformat(body["obtainedAt"]),
                fingerprint=str(body["fingerprint"]),
            )
        except (KeyError, TypeError, ValueError) as err:
            raise KeeperError(f"the keeper's answer is not a token ({type(err).__name__}); is base_url a dhan-token-keeper?") from None


SwapCallback = Callable[[Token], None]
ErrorCallback = Callable[[Exception], None]


class TokenFollower:
    """
    Follows one account's token. `current()` answers at once once a token is known; `start()`
    runs a daemon thread that long-polls the keeper and calls every `on_swap` callback with each
    new token, in order, within milliseconds of the swap. It survives keeper restarts and
    network errors, waiting with exponential backoff and full jitter between tries.
    """

    def __init__(self, base_url: str, api_key: str, client_id: str, *, wait: float = DEFAULT_WAIT_SECONDS,
                 on_swap: Optional[SwapCallback] = None, on_error: Optional[ErrorCallback] = None,
                 backoff_initial: float = 0.25, backoff_max: float = 30.0, connect_timeout: float = 5.0) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"base_url must look like http://127.0.0.1:9470, not {base_url!r}")
        if not api_key:
            raise ValueError("api_key is empty: give a key from the keeper's server.apiKeys")
        self._scheme = parts.scheme
        self._host = parts.hostname
        self._port = parts.port
        self._prefix = parts.path.rstrip("/")
        self._api_key = api_key
        self.client_id = str(client_id)
        self._wait = wait
        self._backoff_initial = backoff_initial
        self._backoff_max = backoff_max
        self._connect_timeout = connect_timeout
        self._swap_callbacks: List[SwapCallback] = [on_swap] if on_swap else []
        self._error_callbacks: List[ErrorCallback] = [on_error] if on_error else []
        self._token: Optional[Token] = None
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._conn: Optional[http.client.HTTPConnection] = None
        #: The last error the background loop met (None after a success), and how many in a row.
        self.last_error: Optional[Exception] = None
        self.consecutive_errors = 0

    # --- public API ---

    def on_swap(self, callback: SwapCallback) -> SwapCallback:
        """Registers a callback for every new token (usable as a decorator)."""
        self._swap_callbacks.append(callback)
        return callback

    def on_error(self, callback: ErrorCallback) -> ErrorCallback:
        self._error_callbacks.append(callback)
        return callback

    def current(self, timeout: Optional[float] = None) -> Token:
        """
        The live token. Without a known one yet: waits up to `timeout` for the background
        thread when it runs, else asks the keeper once. Raises the typed error otherwise.
        """
        with self._lock:
            if self._token is not None:
                return self._token
            if self._thread is not None and timeout:
                self._changed.wait_for(lambda: self._token is not None, timeout)
                if self._token is not None:
                    return self._token
        token = self.fetch()
        self._accept(token)
        return token

    def fetch(self, after: Optional[str] = None, wait: float = 0) -> Optional[Token]:
        """One request: the token, or None for a 304 (unchanged after `wait` seconds)."""
        conn = self._connect(wait)
        try:
            return self._request(conn, after, wait)
        finally:
            conn.close()

    def start(self) -> "TokenFollower":
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name=f"dhan-token-follower-{self.client_id}", daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Ends the background long-poll, also one that is waiting right now."""
        self._stop.set()
        conn = self._conn
        if conn is not None and conn.sock is not None:
            try:
                conn.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
        self._thread = None

    def __enter__(self) -> "TokenFollower":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- the loop ---

    def _run(self) -> None:
        delay = self._backoff_initial
        while not self._stop.is_set():
            try:
                if self._conn is None:
                    self._conn = self._connect(self._wait)
                held = self._token.fingerprint if self._token is not None else None
                token = self._request(self._conn, held, self._wait)
                self.last_error = None
                self.consecutive_errors = 0
                delay = self._backoff_initial
                if token is not None:
                    self._accept(token)
            except Exception as err:  # noqa: BLE001 - every failure is reported, then retried
                self._drop_connection()
                if self._stop.is_set():
                    break
                self.last_error = err
                self.consecutive_errors += 1
                for callback in list(self._error_callbacks):
                    self._safely(callback, err)
                pause = random.uniform(0, delay)
                if isinstance(err, KeeperError) and err.retry_after:
                    pause = max(pause, err.retry_after)
                log.warning("token follower for %s: %s; retrying in %.1f s", self.client_id, err, pause)
                delay = min(self._backoff_max, delay * 2)
                self._stop.wait(pause)
        self._drop_connection()

    def _accept(self, token: Token) -> None:
        with self._lock:
            if self._token is not None and self._token.fingerprint == token.fingerprint:
                return
            self._token = token
            self._changed.notify_all()
        for callback in list(self._swap_callbacks):
            self._safely(callback, token)

    @staticmethod
    def _safely(callback: Callable, value: object) -> None:
        try:
            callback(value)
        except Exception:  # noqa: BLE001 - a bot's bug must not stop the follower
            log.exception("token follower callback failed")

    # --- HTTP ---

    def _connect(self, wait: float) -> http.client.HTTPConnection:
        # The read timeout outlasts the keeper's wait, so a long-poll ends with its 304, not ours.
        timeout = max(self._connect_timeout, wait + 15)
        cls = http.client.HTTPSConnection if self._scheme == "https" else http.client.HTTPConnection
        return cls(self._host, self._port, timeout=timeout)

    def _drop_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    def _request(self, conn: http.client.HTTPConnection, after: Optional[str], wait: float) -> Optional[Token]:
        # `after` is sent only when a token is held: the keeper reads its absence as "anything live".
        query = f"?wait={wait:g}" + (f"&after={after}" if after else "")
        path = f"{self._prefix}/v1/tokens/{quote(self.client_id, safe='')}{query}"
        try:
            conn.request("GET", path, headers={"Authorization": f"Bearer {self._api_key}", "Accept": "application/json"})
            response = conn.getresponse()
            body = response.read()
        except (OSError, http.client.HTTPException) as err:
            raise KeeperUnavailableError(f"the keeper at {self._host}:{self._port} did not answer: {type(err).__name__}: {err}") from None
        if response.getheader("connection", "").lower() == "close" and conn is self._conn:
            self._drop_connection()
        if response.status == 304:
            return None
        if response.status == 200:
            return Token.from_json(json.loads(body))
        code, message = None, f"HTTP {response.status}"
        try:
            parsed = json.loads(body)
            code, message = parsed.get("error"), parsed.get("message", message)
        except (ValueError, AttributeError):
            pass
        retry_after = None
        try:
            retry_after = float(response.getheader("retry-after", ""))
        except ValueError:
            pass
        raise error_for(response.status, code, f"{message} (HTTP {response.status})", retry_after)
