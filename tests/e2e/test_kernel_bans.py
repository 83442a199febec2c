"""Never lose a kernel ban: reloads, restarts, store loss and long ban times, with the real
daemon (``warden server`` in a network namespace) and real nftables or ipset.

Every count below is read from the kernel (``nft -j list set``, ``ipset list -t``), never
from warden.
"""

from __future__ import annotations

import ipaddress
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.backends.netns import can_use_netns, netns
from tests.e2e.harness import Server, wait_for
from warden.protocol import BanReply, BanRequest, JailStatusReply, StatusRequest
from warden.store import SqliteBanStore

ACTIONS = Path("/etc/fail2ban/action.d")
FILES = {
    "nftables": ("nftables-multiport", ("nftables.conf", "nftables-multiport.conf")),
    "ipset": ("iptables-ipset-proto6",
              ("iptables.conf", "iptables-ipset.conf", "iptables-ipset-proto6.conf")),
}

pytestmark = pytest.mark.skipif(
    not can_use_netns() or shutil.which("nft") is None or shutil.which("ipset") is None
    or not (ACTIONS / "nftables-multiport.conf").exists(),
    reason="needs root, iproute2, nft, ipset and fail2ban's actions")


@pytest.fixture
def namespace() -> Iterator[str]:
    with netns("wkb") as name:
        yield name


def _in(ns: str, *argv: str) -> str:
    done = subprocess.run(["ip", "netns", "exec", ns, *argv], capture_output=True, text=True,
                          check=False)
    return done.stdout if done.returncode == 0 else ""


def _nft_elements(ns: str, jail: str) -> dict[str, dict[str, object]]:
    """The kernel's elements of a jail's nftables sets: address -> what nft says of it."""
    found: dict[str, dict[str, object]] = {}
    for name in (f"{jail}4", f"{jail}4n", f"{jail}6", f"{jail}6n"):
        text = _in(ns, "nft", "-j", "list", "set", "inet", "warden", name)
        for item in json.loads(text)["nftables"] if text else []:
            for elem in item.get("set", {}).get("elem", []):
                detail = elem["elem"] if isinstance(elem, dict) and "elem" in elem else {}
                value = detail.get("val", elem)
                if isinstance(value, dict):
                    value = f"{value['prefix']['addr']}/{value['prefix']['len']}"
                found[str(value)] = detail
    return found


def _count(ns: str, kind: str, jail: str) -> int:
    if kind == "nftables":
        return len(_nft_elements(ns, jail))
    total = 0
    for version in (4, 6):
        for line in _in(ns, "ipset", "list", "-t", f"warden{version}-{jail}").splitlines():
            if line.startswith("Number of entries:"):
                total += int(line.split(":")[1])
    return total


def _addresses(n: int) -> list[str]:
    """``n`` documentation addresses: 600 IPv4, the rest IPv6."""
    v4 = [f"{net}.{host}" for net in ("192.0.2", "198.51.100", "203.0.113")
          for host in range(10, 210)]
    v6 = [str(ipaddress.IPv6Address("2001:db8:1::") + i) for i in range(max(0, n - len(v4)))]
    return (v4 + v6)[:n]


def _jail(name: str, log: Path, extra: str = "") -> str:
    return f"[{name}]\nenabled = true\nfilter = sshd\nlogpath = {log}\nport = ssh\n{extra}\n"


def _server(tmp_path: Path, kind: str, jails: str) -> Server:
    action, files = FILES[kind]
    server = Server(tmp_path, jails, action=action)
    for name in files:
        shutil.copy(ACTIONS / name, server.conf / "action.d" / name)
    return server


def _reconfigure(server: Server, kind: str, jails: str) -> None:
    server.write_config(jails, action=FILES[kind][0])
    for name in FILES[kind][1]:
        shutil.copy(ACTIONS / name, server.conf / "action.d" / name)


def _ban(server: Server, jail: str, addrs: list[str]) -> None:
    # returns once the firewall has the bans (the daemon waits for the commit)
    answer = server.call(BanRequest(jail, tuple(addrs)), timeout=120)
    assert isinstance(answer, BanReply), answer
    assert len(answer.banned) + len(answer.already) == len(addrs)


def _started(server: Server, jail: str) -> Callable[[], bool]:
    return lambda: isinstance(server.call(StatusRequest(jail)), JailStatusReply)


@pytest.mark.parametrize("kind", ["nftables", "ipset"])
def test_reload_and_restart_touch_only_the_jails_they_rebuild(
        tmp_path: Path, namespace: str, kind: str) -> None:
    logs = {name: tmp_path / f"{name}.log" for name in ("sshd", "web", "mail")}
    for path in logs.values():
        path.touch()
    server = _server(tmp_path, kind, _jail("sshd", logs["sshd"]))
    try:
        server.start(prefix=("ip", "netns", "exec", namespace))
        _ban(server, "sshd", _addresses(5000))
        assert _count(namespace, kind, "sshd") == 5000

        # a second jail is added and SIGHUP reloads: sshd's elements stay
        _reconfigure(server, kind, _jail("sshd", logs["sshd"]) + _jail("web", logs["web"]))
        server.signal(signal.SIGHUP)
        wait_for("the new jail", _started(server, "web"))
        _ban(server, "web", ["192.0.2.250", "2001:db8:2::1", "198.51.100.0/28"])
        assert _count(namespace, kind, "sshd") == 5000
        assert _count(namespace, kind, "web") == 3

        # restarting one jail touches no other's elements, and keeps its own
        for jail in ("web", "sshd"):
            done = server.cli("reload", jail, "--restart")
            assert done.returncode == 0, done.stderr
            assert _count(namespace, kind, "sshd") == 5000
            assert _count(namespace, kind, "web") == 3
        assert server.status("sshd").currently_banned == 5000

        # a reload that removes web lifts web's bans, and only those
        _reconfigure(server, kind, _jail("sshd", logs["sshd"]) + _jail("mail", logs["mail"]))
        server.signal(signal.SIGHUP)
        wait_for("the jail that replaces web", _started(server, "mail"))
        _ban(server, "mail", ["203.0.113.250"])
        wait_for("web's bans lifted", lambda: _count(namespace, kind, "web") == 0)
        assert _count(namespace, kind, "sshd") == 5000
        assert _count(namespace, kind, "mail") == 1
        assert server.status("sshd").currently_banned == 5000
    finally:
        server.close()


def _garbage(db: Path) -> None:
    db.write_bytes(b"this is not an SQLite database" * 100)
    for suffix in ("-wal", "-shm"):
        db.with_name(db.name + suffix).unlink(missing_ok=True)


def _moved(db: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        side = db.with_name(db.name + suffix)
        if side.exists():
            os.replace(side, side.with_name(side.name + ".aside"))


@pytest.mark.parametrize("loss", ["moved aside", "garbage"])
def test_a_lost_store_adopts_the_kernel_bans(tmp_path: Path, namespace: str, loss: str
                                             ) -> None:
    log = tmp_path / "auth.log"
    log.touch()
    server = _server(tmp_path, "nftables", _jail("sshd", log, "bantime = 1h"))
    prefix = ("ip", "netns", "exec", namespace)
    addrs = _addresses(700)
    try:
        server.start(prefix=prefix)
        _ban(server, "sshd", addrs)
        assert server.stop() == 0
        (_moved if loss == "moved aside" else _garbage)(server.db)
        server.start(prefix=prefix)
        assert _count(namespace, "nftables", "sshd") == 700
        banned = server.banned("sshd")
        assert set(banned) == set(addrs)
        # with the time the kernel still gave them (1h less the seconds gone by)
        left = [b.remaining for b in banned.values()]
        assert all(r is not None and 3000 < r <= 3600 for r in left)
        assert "adopted 700 bans the firewall held but the store did not" in server.log_text()
        # adopted bans are the store's again: a later restart restores them
        assert server.stop() == 0
        server.start(prefix=prefix)
        assert "Restore Ban 192.0.2.10" in server.log_text()
        assert _count(namespace, "nftables", "sshd") == 700
    finally:
        server.close()


def test_bans_a_full_disk_kept_out_are_adopted_and_ended_ones_removed(
        tmp_path: Path, namespace: str) -> None:
    log = tmp_path / "auth.log"
    log.touch()
    server = _server(tmp_path, "nftables", _jail("sshd", log, "bantime = 1h"))
    prefix = ("ip", "netns", "exec", namespace)
    addrs = _addresses(1000)
    lost, unbanned = addrs[:300], addrs[300]
    try:
        server.start(prefix=prefix)
        _ban(server, "sshd", addrs)
        assert server.stop() == 0
        time.sleep(2.5)  # the unban below comes clearly after the kernel got the element
        # the disk was full when 300 of the bans were written: the store lacks them
        with sqlite3.connect(server.db) as db:
            for table in ("bans", "history"):
                db.executemany(f"DELETE FROM {table} WHERE jail = 'sshd' AND addr = ?",
                               [(a,) for a in lost])
        db.close()
        # and the daemon had recorded the unban of one address, then died before the
        # firewall was told (the store is written first)
        store = SqliteBanStore(server.db)
        store.remove_bans([("sshd", unbanned)], forget=True, at=time.time())
        store.close()
        assert _count(namespace, "nftables", "sshd") == 1000
        server.start(prefix=prefix)
        assert _count(namespace, "nftables", "sshd") == 999
        assert unbanned not in _nft_elements(namespace, "sshd")
        assert set(server.banned("sshd")) == set(addrs) - {unbanned}
        assert "adopted 300 bans the firewall held but the store did not" in server.log_text()
    finally:
        server.close()


def test_long_and_huge_ban_times_are_enforced(tmp_path: Path, namespace: str) -> None:
    # (ipset already kept bans beyond its 24.8-day limit without a timeout)
    kind = "nftables"
    log = tmp_path / "auth.log"
    log.touch()
    jails = {"ten": "10y", "century": "100y", "huge": "99999999999999"}
    server = _server(tmp_path, kind, "".join(
        _jail(name, log, f"bantime = {value}") for name, value in jails.items()))
    checked = server.cli("check")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    try:
        server.start(prefix=("ip", "netns", "exec", namespace))
        for i, jail in enumerate(jails):
            _ban(server, jail, [f"192.0.2.{i + 1}", f"2001:db8::{i + 1}"])
        for i, jail in enumerate(jails):
            assert _count(namespace, kind, jail) == 2, jail
            # no kernel timeout: the daemon's expiry lifts it, it never lapses early
            assert _nft_elements(namespace, jail)[f"192.0.2.{i + 1}"] == {}
            left = server.banned(jail)[f"192.0.2.{i + 1}"].remaining
            assert left is not None and left > 9 * 365 * 86400
            shown = server.cli("status", jail)
            assert shown.returncode == 0 and f"192.0.2.{i + 1}" in shown.stdout, shown.stderr
        # a daemon unban removes an element that has no timeout
        done = server.cli("unban", "192.0.2.1")
        assert done.returncode == 0, done.stderr
        assert _count(namespace, kind, "ten") == 1
        # and a restart keeps the long bans (restored from the store, not re-timed)
        assert server.stop() == 0
        server.start(prefix=("ip", "netns", "exec", namespace))
        assert _count(namespace, kind, "huge") == 2
        assert "2001:db8::3" in server.banned("huge")
    finally:
        server.close()
