"""Typed errors for the token API's answers, so a bot can tell "fix the config" from "wait"."""

from typing import Optional


class KeeperError(Exception):
    """Anything the keeper refused or could not answer. `status` is the HTTP status, if any."""

    def __init__(self, message: str, status: Optional[int] = None, code: Optional[str] = None,
                 retry_after: Optional[float] = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.retry_after = retry_after


class UnauthorizedError(KeeperError):
    """401: no key, or not one of the keeper's server.apiKeys. Fix the key; retrying will not help."""


class ForbiddenError(KeeperError):
    """403: the key may not read this client's token. List the client in the key's clients."""


class UnknownClientError(KeeperError):
    """404: no account with this client id is configured in the keeper."""


class KeeperUnavailableError(KeeperError):
    """503 (busy or shutting down) or no answer at all: retry after a pause."""


class NoLiveTokenError(KeeperUnavailableError):
    """503 no-live-token: the account has no live token right now; the keeper is working on it."""


def error_for(status: int, code: Optional[str], message: str, retry_after: Optional[float]) -> KeeperError:
    if status == 401:
        return UnauthorizedError(message, status, code, retry_after)
    if status == 403:
        return ForbiddenError(message, status, code, retry_after)
    if status == 404:
        return UnknownClientError(message, status, code, retry_after)
    if status == 503 and code == "no-live-token":
        return NoLiveTokenError(message, status, code, retry_after)
    if status == 503:
        return KeeperUnavailableError(message, status, code, retry_after)
    return KeeperError(message, status, code, retry_after)
