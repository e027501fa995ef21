"""Rebuild an SDK object (e.g. dhanhq's) on every swap, without importing the SDK here."""

import threading
from typing import Any, Callable, Generic, Optional, TypeVar

from .follower import Token, TokenFollower

T = TypeVar("T")


class LiveClient(Generic[T]):
    """
    Holds `factory(client_id, access_token)` for the live token and builds a new one on every
    swap. `get()` always returns the newest; an object handed out earlier keeps its old token,
    so call `get()` per request (or per order), not once at start.
    """

    def __init__(self, follower: TokenFollower, factory: Callable[[str, str], T]) -> None:
        self._factory = factory
        self._lock = threading.Lock()
        self._value: Optional[T] = None
        self._fingerprint: Optional[str] = None
        self._follower = follower
        follower.on_swap(self._rebuild)

    def _rebuild(self, token: Token) -> None:
        value = self._factory(token.client_id, token.access_token)
        with self._lock:
            self._value, self._fingerprint = value, token.fingerprint

    def get(self, timeout: Optional[float] = 10.0) -> T:
        with self._lock:
            if self._value is not None:
                return self._value
        token = self._follower.current(timeout)
        with self._lock:
            if self._value is None or self._fingerprint != token.fingerprint:
                self._value, self._fingerprint = self._factory(token.client_id, token.access_token), token.fingerprint
            return self._value

    @property
    def fingerprint(self) -> Optional[str]:
        """The fingerprint of the token behind `get()`: safe to log, unlike the token."""
        with self._lock:
            return self._fingerprint


def dhanhq_factory(dhan_context_class: Any, dhanhq_class: Any) -> Callable[[str, str], Any]:
    """`dhanhq(DhanContext(client_id, token))` for dhanhq 2.1+; pass the two classes in."""

    def build(client_id: str, access_token: str) -> Any:
        return dhanhq_class(dhan_context_class(client_id, access_token))

    return build
