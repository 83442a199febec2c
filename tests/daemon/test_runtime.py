"""The runtime pipeline with real parts: a real Jail, the in-memory store, the dry-run firewall.

Lines go in through ``on_batch``; what must come out is a ban in the store *and* in the
firewall, and an unban of both when the ban ends (driven by a fake clock).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.daemon.pipeline import FILTERS, Clock, pipeline, sshd_tree
from tests.e2e.harness import failure_line
from warden.backends.base import JailRule
from warden.backends.dryrun import DryRunBackend
from warden.config import load_jails
from warden.core.jail import Jail
from warden.daemon.enforcer import Enforcer, Route
from warden.daemon.jailspec import jail_spec
from warden.daemon.runtime import JailSlot, Runtime
from warden.sources.base import FilePosition, LogBatch
from warden.store import SqliteBanStore, StoredBan

pytestmark = pytest.mark.skipif(not (FILTERS / "sshd.conf").exists(), reason="needs fail2ban")


def test_a_ban_is_stored_then_enforced_and_expires(tmp_path: Path) -> None:
    async def scenario() -> None:
        clock = Clock(1_800_000_000.0)
        runtime, store, firewall, enforcer = await pipeline(tmp_path, clock)
        path = f"{tmp_path}/auth.log"
        lines = [failure_line("192.0.2.9", when=clock.now).rstrip("\n")] * 3
        await runtime.on_batch(LogBatch(path, lines[:2], FilePosition(path, 100)))
        assert store.active_bans(clock.now) == []
        await runtime.on_batch(LogBatch(path, lines[2:], FilePosition(path, 150)))
        stored = store.active_bans(clock.now)
        assert [(b.jail, b.addr, b.bantime) for b in stored] == [("sshd", "192.0.2.9", 60.0)]
        # the firewall gets it once the enforcer ran its round
        for _ in range(100):
            if firewall.commits:
                break
            await asyncio.sleep(0.01)
        assert {str(n) for n in firewall.banned("sshd")} == {"192.0.2.9/32"}
        # lines of a file no jail watches are ignored
        await runtime.on_batch(LogBatch("/elsewhere", lines, None))
        assert len(store.active_bans(clock.now)) == 1
        # time passes: the jail's expiry unbans in the store and in the firewall
        clock.now = stored[0].start + 61
        unbans = runtime.expire()
        assert [u.address for u in unbans] == ["192.0.2.9"]
        await runtime.carry_out(unbans, wait=True)
        assert store.active_bans(clock.now) == []
        assert firewall.banned("sshd") == set()
        assert store.history("192.0.2.9", "sshd", 0.0) is not None  # history kept on expiry
        runtime.save_positions()
        assert store.positions()[path]["offset"] == 150
        enforcer.cancel()

    asyncio.run(scenario())


def test_the_history_says_which_bans_the_jail_counted(tmp_path: Path) -> None:
    # a ban for failures is counted, one by hand is not (escalation groups after a restart
    # are rebuilt from the counted ones only, as they were formed)
    async def scenario() -> None:
        clock = Clock(1_800_000_000.0)
        runtime, store, _fw, enforcer = await pipeline(tmp_path, clock)
        path = f"{tmp_path}/auth.log"
        lines = [failure_line("192.0.2.9", when=clock.now).rstrip("\n")] * 3
        await runtime.on_batch(LogBatch(path, lines, FilePosition(path, 100)))
        await runtime.carry_out(runtime.slots["sshd"].jail.ban("192.0.2.10", clock.now),
                                wait=True)
        assert sorted((b.addr, b.counted) for b in store.load_history(0.0)) == [
            ("192.0.2.10", False), ("192.0.2.9", True)]
        enforcer.cancel()

    asyncio.run(scenario())


def test_restore_gives_back_active_bans_only(tmp_path: Path) -> None:
    async def scenario() -> None:
        clock = Clock(1_800_000_000.0)
        runtime, _store, _fw, enforcer = await pipeline(tmp_path, clock)
        slot = runtime.slots["sshd"]
        active = [StoredBan("sshd", "192.0.2.1", clock.now - 10, 60.0),
                  StoredBan("sshd", "192.0.2.2", clock.now - 100, 60.0),  # over
                  StoredBan("other", "192.0.2.3", clock.now, 60.0)]  # another jail's
        restored = runtime.restore(slot, active)
        assert [b.address for b in restored] == ["192.0.2.1"]
        assert runtime.next_expiry() == clock.now + 50
        enforcer.cancel()

    asyncio.run(scenario())


def test_manual_unban_forgets_history(tmp_path: Path) -> None:
    async def scenario() -> None:
        clock = Clock(1_800_000_000.0)
        runtime, store, firewall, enforcer = await pipeline(tmp_path, clock)
        jail = runtime.slots["sshd"].jail
        await runtime.carry_out(jail.ban("198.51.100.0/24", clock.now), wait=True)
        assert {str(n) for n in firewall.banned("sshd")} == {"198.51.100.0/24"}
        await runtime.carry_out(jail.unban("198.51.100.0/24", clock.now), wait=True)
        assert firewall.banned("sshd") == set()
        assert store.history("198.51.100.0/24", "sshd", 0.0) is None
        enforcer.cancel()

    asyncio.run(scenario())


def test_a_failing_store_does_not_stop_enforcement(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    async def scenario() -> None:
        clock = Clock(1_800_000_000.0)
        cfg = load_jails(sshd_tree(tmp_path)).jails[0]
        store = SqliteBanStore(tmp_path / "w.db")
        firewall = DryRunBackend()
        enforcer = Enforcer({"dryrun": firewall}, clock=clock)
        await enforcer.start_jails({"sshd": Route(JailRule("sshd"), ("dryrun",))})
        runtime = Runtime(store, enforcer, clock=clock)
        runtime.add_jail(JailSlot(cfg, Jail(jail_spec(cfg)), (f"{tmp_path}/auth.log",)))
        worker = asyncio.create_task(enforcer.run())
        store.close()  # every write now fails
        await runtime.carry_out(runtime.slots["sshd"].jail.ban("192.0.2.5", clock.now),
                                wait=True)
        assert {str(n) for n in firewall.banned("sshd")} == {"192.0.2.5/32"}
        runtime.positions["/x"] = {"offset": 1}
        runtime.save_positions()
        assert runtime.positions == {"/x": {"offset": 1}}  # kept for the next try
        worker.cancel()

    asyncio.run(scenario())
    assert "will not survive a restart" in caplog.text
