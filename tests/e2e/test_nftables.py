"""The daemon with the nftables backend, in a network namespace of its own.

``warden server`` runs inside the namespace (``ip netns exec``) as it would on a host; the
bans must appear in its nftables sets, stay there across a stop, and leave on unban.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.backends.netns import can_use_netns, netns
from tests.e2e.harness import Server, append, failure_line, wait_for

pytestmark = pytest.mark.skipif(
    not can_use_netns() or shutil.which("nft") is None
    or not Path("/etc/fail2ban/action.d/nftables-multiport.conf").exists(),
    reason="needs root, iproute2, nft and fail2ban's nftables actions")


def _set(ns: str, name: str) -> str:
    done = subprocess.run(["ip", "netns", "exec", ns, "nft", "list", "set", "inet", "warden",
                           name], capture_output=True, text=True, check=False)
    return done.stdout if done.returncode == 0 else ""


def _nft(ns: str, command: str) -> None:
    subprocess.run(["ip", "netns", "exec", ns, "nft", command], check=True, capture_output=True)


@pytest.fixture
def namespace() -> Iterator[str]:
    with netns("we2e") as name:
        yield name


def test_bans_reach_the_nftables_sets_and_survive_a_stop(tmp_path: Path, namespace: str
                                                         ) -> None:
    log = tmp_path / "auth.log"
    log.touch()
    server = Server(tmp_path, f"[sshd]\nenabled = true\nfilter = sshd\nlogpath = {log}\n"
                    "port = ssh\nbantime = 1h\n", action="nftables-multiport")
    for name in ("nftables.conf", "nftables-multiport.conf"):
        shutil.copy(Path("/etc/fail2ban/action.d") / name, server.conf / "action.d" / name)
    prefix = ("ip", "netns", "exec", namespace)
    try:
        server.start(prefix=prefix)
        append(log, failure_line("192.0.2.2") * 3 + failure_line("2001:db8::2") * 3)
        wait_for("the IPv4 ban in the set", lambda: "192.0.2.2" in _set(namespace, "sshd4"))
        wait_for("both bans", lambda: len(server.banned()) == 2)
        wait_for("the IPv6 ban in the set", lambda: "2001:db8::2" in _set(namespace, "sshd6"))
        assert "timeout" in _set(namespace, "sshd4")  # kernel-side expiry
        assert server.stop() == 0
        # stopping leaves the bans in the firewall
        assert "192.0.2.2" in _set(namespace, "sshd4")
        # while warden is down the firewall loses one ban and gains one warden never made
        _nft(namespace, "delete element inet warden sshd6 { 2001:db8::2 }")
        _nft(namespace, "add element inet warden sshd4 { 198.51.100.99 timeout 1h }")
        assert "198.51.100.99" in _set(namespace, "sshd4")
        server.start(prefix=prefix)
        # reconciled on start: the lost ban is back, nothing flushed, and the element the
        # store never ended is evidence of a ban: adopted (tests/e2e/test_kernel_bans.py)
        assert set(server.banned()) == {"192.0.2.2", "2001:db8::2", "198.51.100.99"}
        assert "2001:db8::2" in _set(namespace, "sshd6")
        assert "198.51.100.99" in _set(namespace, "sshd4")
        assert "192.0.2.2" in _set(namespace, "sshd4")
        done = server.cli("unban", "192.0.2.2")
        assert done.returncode == 0, done.stderr
        assert "192.0.2.2" not in _set(namespace, "sshd4")
        assert "2001:db8::2" in _set(namespace, "sshd6")
    finally:
        server.close()
