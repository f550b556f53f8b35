"""Who may reach `rag serve`: a `RAG_AUTH` login, and no serving beyond loopback without one."""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from collections.abc import Callable

from rag.errors import ConfigError


def parse_auth(value: str | None) -> tuple[str, str] | None:
    """`RAG_AUTH=user:password` as a pair; unset is None; anything else is an error (a typo
    must not leave the app open)."""
    if not value:
        return None
    user, colon, password = value.partition(":")
    if not colon or not user or not password:
        raise ConfigError("RAG_AUTH must be user:password (both non-empty).")
    return user, password


def check_exposure(host: str, auth: tuple[str, str] | None, public: bool) -> str | None:
    """Refuse to serve beyond this machine without a login, unless `public` says so.

    Returns a warning to print when the app is open to the network on purpose.
    """
    if is_loopback(host) or auth:
        return None
    if not public:
        raise ConfigError(
            f"Refusing to serve on {host} without a login: anyone who can reach the port could "
            "read the articles and add their own. Set RAG_AUTH=user:password, or bind "
            "127.0.0.1, or pass --public to open the app to the network on purpose."
        )
    return (
        f"WARNING: serving on {host} with no login (--public): anyone who can reach this port "
        "can ask questions and upload articles into this index."
    )


def is_loopback(host: str) -> bool:
    """Whether every address `host` stands for is this machine's loopback."""
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError:
        return False
    addresses = {info[4][0] for info in infos}
    return bool(addresses) and all(
        ipaddress.ip_address(a.split("%")[0]).is_loopback for a in addresses
    )


FREE_LOGIN_TRIES = 3  # wrong passwords a client may type before it is slowed down
FIRST_LOGIN_DELAY = 1.0  # seconds after the first slowed-down failure; doubles with each next
MAX_LOGIN_DELAY = 300.0
FORGET_LOGIN_FAILURES = 3600.0  # a client quiet this long starts afresh


class LoginThrottle:
    """Wrong passwords slow their client down: after `free` failures, the client must wait
    `first` seconds before its next try, twice as long after each further failure (up to
    `longest`). A right password clears the client's count. Tries made while waiting are
    refused without checking the password. `clock` is injectable for tests."""

    def __init__(
        self,
        free: int = FREE_LOGIN_TRIES,
        first: float = FIRST_LOGIN_DELAY,
        longest: float = MAX_LOGIN_DELAY,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.free, self.first, self.longest, self.clock = free, first, longest, clock
        self._failures: dict[str, tuple[int, float]] = {}  # client -> (count, last failure)
        self._lock = threading.Lock()

    def wait(self, client: str) -> float:
        """Seconds `client` must still wait before its next try (0: it may try now)."""
        with self._lock:
            count, last = self._failures.get(client, (0, 0.0))
            return max(0.0, last + self.delay(count) - self.clock()) if count else 0.0

    def delay(self, failures: int) -> float:
        """The wait after `failures` wrong passwords in a row."""
        if failures <= self.free - 1:
            return 0.0
        return min(self.longest, self.first * 2 ** (failures - self.free))

    def failed(self, client: str) -> float:
        """Count a wrong password; returns the wait it brings."""
        with self._lock:
            now = self.clock()
            self._forget(now)
            count = self._failures.get(client, (0, 0.0))[0] + 1
            self._failures[client] = (count, now)
            return self.delay(count)

    def succeeded(self, client: str) -> None:
        with self._lock:
            self._failures.pop(client, None)

    def _forget(self, now: float) -> None:
        """Drops clients quiet for an hour, so that the table stays small."""
        stale = [c for c, (_, last) in self._failures.items() if now - last > FORGET_LOGIN_FAILURES]
        for client in stale:
            del self._failures[client]
