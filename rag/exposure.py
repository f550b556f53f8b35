"""Who may reach `rag serve`: a `RAG_AUTH` login, and no serving beyond loopback without one."""

from __future__ import annotations

import ipaddress
import socket

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
