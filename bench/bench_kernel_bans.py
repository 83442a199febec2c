"""Time reloads and restarts with many bans in nftables (root; a network namespace of its own).

    sudo .venv/bin/python bench/bench_kernel_bans.py [N]

Runs the real ``warden server`` (tests/e2e/harness.py) in a fresh namespace, bans N addresses
(default 10,000) in ``sshd`` through the control socket, then times: a reload that adds a
jail, ``reload sshd --restart``, a restart with the store intact, and a restart after the
store was moved aside (every element adopted). After each step it prints how many elements
the kernel holds (``nft -j list set``), which must stay N.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.backends.netns import netns
from tests.e2e.test_kernel_bans import (
    _addresses,
    _ban,
    _count,
    _jail,
    _moved,
    _reconfigure,
    _server,
)


def main(n: int) -> None:
    """Print one line per step: what it was, seconds, kernel elements after it."""
    with netns("wkbench") as ns, tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        logs = {name: root / f"{name}.log" for name in ("sshd", "web")}
        for path in logs.values():
            path.touch()
        server = _server(root, "nftables", _jail("sshd", logs["sshd"]))
        prefix = ("ip", "netns", "exec", ns)

        def step(what: str, action: object) -> None:
            started = time.monotonic()
            assert callable(action)
            action()
            took = time.monotonic() - started
            print(f"{what}: {took:.2f} s, {_count(ns, 'nftables', 'sshd')} elements")

        try:
            server.start(prefix=prefix)
            step(f"ban {n} through the control socket", lambda: _ban(server, "sshd",
                                                                      _addresses(n)))
            _reconfigure(server, "nftables",
                         _jail("sshd", logs["sshd"]) + _jail("web", logs["web"]))
            step("reload adding a jail", lambda: server.cli("reload"))
            step("reload sshd --restart", lambda: server.cli("reload", "sshd", "--restart"))
            server.stop()
            step("restart, store intact", lambda: server.start(prefix=prefix))
            server.stop()
            _moved(server.db)
            step("restart, store moved aside", lambda: server.start(prefix=prefix))
        finally:
            server.close()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10_000)
