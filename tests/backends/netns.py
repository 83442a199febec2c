"""Network namespaces for backend tests (root only): create, run inside, always remove."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest

__all__ = ["can_use_netns", "netns", "netns_pair", "wait_for"]


def can_use_netns() -> bool:
    return os.geteuid() == 0 and shutil.which("ip") is not None


def _ip(*args: str) -> None:
    subprocess.run(("ip", *args), check=True, capture_output=True)


@contextmanager
def netns(prefix: str = "wb") -> Iterator[str]:
    """A fresh network namespace with loopback up; deleted (with what is in it) on exit."""
    if not can_use_netns():
        pytest.skip("needs root and iproute2 to create network namespaces")
    name = f"{prefix}-{secrets.token_hex(4)}"
    _ip("netns", "add", name)
    try:
        _ip("-n", name, "link", "set", "lo", "up")
        yield name
    finally:
        subprocess.run(("ip", "netns", "del", name), check=False, capture_output=True)


@contextmanager
def netns_pair() -> Iterator[tuple[str, str]]:
    """Victim and attacker namespaces joined by a veth pair.

    victim: 192.0.2.1/24, 2001:db8::1/64; attacker: 192.0.2.2, 192.0.2.3 (an innocent second
    address), 2001:db8::2, 2001:db8::3.
    """
    with netns("wv") as victim, netns("wa") as attacker:
        _ip("link", "add", "wv0", "netns", victim, "type", "veth", "peer", "wa0",
            "netns", attacker)
        for ns, dev, addrs in (
            (victim, "wv0", ("192.0.2.1/24", "2001:db8::1/64")),
            (attacker, "wa0", ("192.0.2.2/24", "192.0.2.3/24", "2001:db8::2/64",
                               "2001:db8::3/64")),
        ):
            for addr in addrs:
                extra = ("nodad",) if ":" in addr else ()
                _ip("-n", ns, "addr", "add", addr, "dev", dev, *extra)
            _ip("-n", ns, "link", "set", dev, "up")
        yield victim, attacker


def wait_for(condition: Callable[[], bool], timeout: float = 5.0, step: float = 0.02) -> bool:
    """Poll ``condition`` until it is true or ``timeout`` passes; return its last value."""
    deadline = time.monotonic() + timeout
    while True:
        if condition():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(step)
