"""What the daemon's runtime keeps over a restart (issue 14): the store (a real SQLite file)
outlives one :class:`Runtime` and a second one, built as the daemon builds it at start, gets
back the escalated bans with their members, the escalation groups and the trusted logins.
"""

from __future__ import annotations

import asyncio
import calendar
import dataclasses
from ipaddress import ip_network
from pathlib import Path

import pytest

from tests.core.test_jail_trust import SSHD
from tests.daemon.pipeline import FILTERS, Clock, sshd_tree
from tests.e2e.harness import failure_line
from warden.config import load_jails
from warden.core.decisions import Ban
from warden.core.escalate import parse_escalate
from warden.core.jail import Jail
from warden.daemon.enforcer import Enforcer
from warden.daemon.jailspec import jail_spec
from warden.daemon.runtime import JailSlot, Runtime
from warden.sources.base import FilePosition, LogBatch
from warden.store import SqliteBanStore

pytestmark = pytest.mark.skipif(not (FILTERS / "sshd.conf").exists(), reason="needs fail2ban")

T0 = float(calendar.timegm((2026, 12, 2, 9, 0, 0)))


def _runtime(root: Path, clock: Clock, **options: object) -> tuple[Runtime, SqliteBanStore]:
    """A runtime on the store file under ``root`` with one sshd jail (``options`` on its
    spec), its bans restored as the daemon restores them at start."""
    cfg = load_jails(sshd_tree(root) if not (root / "conf").exists()
                     else root / "conf").jails[0]
    store = SqliteBanStore(root / "warden.db")
    runtime = Runtime(store, Enforcer({}, clock=clock), clock=clock)
    spec = dataclasses.replace(jail_spec(cfg), **options)  # type: ignore[arg-type]
    slot = JailSlot(cfg, Jail(spec), (f"{root}/auth.log",))
    runtime.add_jail(slot)
    runtime.restore(slot, store.active_bans(clock()))
    return runtime, store


def test_escalation_members_and_groups_come_back(tmp_path: Path) -> None:
    async def scenario() -> None:
        clock = Clock(T0)
        options = {"maxretry": 1, "escalate": parse_escalate("3 in /24"), "bantime": 3600.0}
        first, store = _runtime(tmp_path, clock, **options)
        path = f"{tmp_path}/auth.log"
        lines = [failure_line(f"198.51.100.{n}", when=T0).rstrip("\n") for n in (1, 2, 3)]
        lines += [failure_line(f"203.0.113.{n}", when=T0).rstrip("\n") for n in (1, 2)]
        await first.on_batch(LogBatch(path, lines, FilePosition(path, 500)))
        assert first.slots["sshd"].jail.escalations == 1
        store.close()

        clock.now = T0 + 60
        second, store = _runtime(tmp_path, clock, **options)
        jail = second.slots["sshd"].jail
        assert jail.members_of(ip_network("198.51.100.0/24")) == (
            "198.51.100.1", "198.51.100.2", "198.51.100.3")
        # the group of 203.0.113.1 and .2 was kept: the third address escalates now
        out = jail.feed(failure_line("203.0.113.3", when=clock.now), clock.now)
        assert [(d.address, d.members) for d in out if isinstance(d, Ban) and d.escalated] \
            == [("203.0.113.0/24", ("203.0.113.1", "203.0.113.2", "203.0.113.3"))]
        store.close()

    asyncio.run(scenario())


def _line(hhmmss: str, text: str) -> str:
    return f"2026-12-02 {hhmmss} host sshd[42]: {text}"


def test_a_trusted_login_comes_back(tmp_path: Path) -> None:
    async def scenario() -> None:
        clock = Clock(T0)
        options = {"filters": (SSHD,), "trustsuccess": 86400.0, "maxretry": 3}
        first, store = _runtime(tmp_path, clock, **options)
        path = f"{tmp_path}/auth.log"
        login = _line("09:00:00", "Accepted password for alice from 192.0.2.20 port 1 ssh2")
        await first.on_batch(LogBatch(path, [login], FilePosition(path, 100)))
        first.save_trust()  # the daemon does so every few seconds and when it stops
        store.close()

        clock.now = T0 + 8 * 3600  # 17:00
        second, store = _runtime(tmp_path, clock, **options)
        typos = [_line(f"17:00:0{n}", "Failed password for alice from 192.0.2.20 port 1 "
                       "ssh2") for n in range(3)]
        await second.on_batch(LogBatch(path, typos, FilePosition(path, 300)))
        jail = second.slots["sshd"].jail
        assert jail.status(clock.now).trusted == 1
        assert not jail.is_banned("192.0.2.20")
        # a login just before a reload rebuilds the jail: saved as the jail goes, back after
        later = _line("17:01:00", "Accepted password for bob from 192.0.2.21 port 1 ssh2")
        await second.on_batch(LogBatch(path, [later], FilePosition(path, 400)))
        second.remove_jail("sshd")
        store.close()
        third, store = _runtime(tmp_path, clock, **options)
        assert third.slots["sshd"].jail.status(clock.now).trusted == 2
        store.close()

    asyncio.run(scenario())
