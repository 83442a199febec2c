"""Real TCP traffic between two namespaces: does a connection get through?"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from .netns import wait_for

__all__ = ["connects", "listener"]

_SERVER = r"""
import socket, sys, selectors
sel = selectors.DefaultSelector()
for port in map(int, sys.argv[1:]):
    s = socket.socket(socket.AF_INET6)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("::", port)); s.listen(64); sel.register(s, selectors.EVENT_READ)
print("ready", flush=True)
while True:
    for key, _ in sel.select():
        c, _ = key.fileobj.accept(); c.sendall(b"hi\n"); c.close()
"""

_CLIENT = r"""
import socket, sys
src, dst, port, timeout = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
family = socket.AF_INET6 if ":" in dst else socket.AF_INET
s = socket.socket(family); s.settimeout(timeout); s.bind((src, 0))
try:
    s.connect((dst, port)); print(s.recv(3).decode().strip())
except OSError as e:
    print("failed", type(e).__name__)
"""


@contextmanager
def listener(ns: str, *ports: int) -> Iterator[None]:
    """TCP servers on ``ports`` (IPv4 and IPv6) inside ``ns``; stopped on exit."""
    proc = subprocess.Popen(
        ("ip", "netns", "exec", ns, sys.executable, "-c", _SERVER, *map(str, ports)),
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
        yield
    finally:
        proc.kill()
        proc.wait()


def connects(ns: str, src: str, dst: str, port: int, timeout: float = 0.5) -> bool:
    """Whether a TCP connection from ``src`` (in ``ns``) to ``dst:port`` is answered."""
    out = subprocess.run(
        ("ip", "netns", "exec", ns, sys.executable, "-c", _CLIENT, src, dst, str(port),
         str(timeout)),
        capture_output=True, text=True, check=True,
    ).stdout.strip()
    return out == "hi"


def eventually_connects(ns: str, src: str, dst: str, port: int) -> bool:
    """Connections from a freshly configured address may need DAD/ARP: retry briefly."""
    return wait_for(lambda: connects(ns, src, dst, port), timeout=5, step=0.1)
