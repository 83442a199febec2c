"""Long ban times on a kernel-timed firewall: the daemon's expiry path lifts the element.

The runtime (real core jail, real store, the enforcer) drives real nftables in a network
namespace with a fake clock, so ten years pass in one step: the ban goes in without a kernel
timeout (nft refuses one that long) and the jail's expiry removes it from the kernel.
"""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest

from warden.backends.base import JailRule
from warden.backends.nftables import NftablesBackend
from warden.backends.runner import SubprocessRunner
from warden.config.model import JailConfig
from warden.core.addr import parse_network
from warden.core.jail import Jail
from warden.core.spec import JailSpec
from warden.daemon.enforcer import Enforcer, Route
from warden.daemon.runtime import JailSlot, Runtime
from warden.store import SqliteBanStore

from .netns import netns

pytestmark = pytest.mark.skipif(shutil.which("nft") is None, reason="nft not installed")

TEN_YEARS = 10 * 365.25 * 86400


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize("bantime", [TEN_YEARS, 100 * 365.25 * 86400])
def test_a_long_ban_is_enforced_and_the_daemon_expiry_lifts_it(tmp_path: Path, bantime: float
                                                                ) -> None:
    addr = parse_network("192.0.2.5")
    assert addr is not None

    async def scenario(ns: str) -> None:
        clock = Clock(1_800_000_000.0)
        backend = NftablesBackend(runner=SubprocessRunner(("ip", "netns", "exec", ns)))
        enforcer = Enforcer({"nftables": backend}, clock=clock)
        await enforcer.start_jails({"sshd": Route(JailRule("sshd"), ("nftables",))})
        store = SqliteBanStore(tmp_path / "w.db")
        runtime = Runtime(store, enforcer, clock=clock)
        jail = Jail(JailSpec("sshd", bantime=bantime))
        runtime.add_jail(JailSlot(JailConfig("sshd", None, ()), jail))
        worker = asyncio.create_task(enforcer.run())
        try:
            await runtime.carry_out(jail.ban("192.0.2.5", clock.now), wait=True)
            held = backend.present("sshd", clock.now)
            assert addr in held and held[addr].remaining is None  # no kernel timeout
            clock.now += bantime - 60
            assert runtime.expire() == []  # a minute before its end it still holds
            clock.now += 61
            unbans = runtime.expire()
            assert [u.address for u in unbans] == ["192.0.2.5"]
            await runtime.carry_out(unbans, wait=True)
            assert backend.banned("sshd") == set()
            assert store.active_bans(clock.now) == []
            assert store.ends(["sshd"]) == {("sshd", "192.0.2.5"): clock.now}
        finally:
            worker.cancel()
            await asyncio.gather(worker, return_exceptions=True)
            store.close()

    with netns() as ns:
        asyncio.run(scenario(ns))
