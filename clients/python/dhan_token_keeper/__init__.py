"""Follow the live Dhan access token from a dhan-token-keeper (standard library only)."""

from .errors import (
    ForbiddenError,
    KeeperError,
    KeeperUnavailableError,
    NoLiveTokenError,
    UnauthorizedError,
    UnknownClientError,
)
from .follower import DEFAULT_WAIT_SECONDS, Token, TokenFollower
from .live_client import LiveClient, dhanhq_factory

__all__ = [
    "DEFAULT_WAIT_SECONDS",
    "ForbiddenError",
    "KeeperError",
    "KeeperUnavailableError",
    "LiveClient",
    "NoLiveTokenError",
    "Token",
    "TokenFollower",
    "UnauthorizedError",
    "UnknownClientError",
    "dhanhq_factory",
]
__version__ = "0.1.0"
