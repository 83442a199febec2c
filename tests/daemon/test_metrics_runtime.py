"""What the runtime tells its observers (metrics, the event hub): the cause of bans and unbans,
lines read per source, store writes and errors, and counted failures, which the fleet still
gets all of when the event stream collects them too."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Sequence
from pathlib import Path

import pytest

from tests.daemon.pipeline import FILTERS, Clock, pipeline
from tests.e2e.harness import failure_line
from warden.core.decisions import Ban, Unban
from warden.daemon.metrics import Metrics, Scrape
from warden.sources.base import LogBatch

pytestmark = pytest.mark.skipif(not (FILTERS / "sshd.conf").exists(), reason="needs fail2ban")


class _Recorder:
    def __init__(self, wants: bool = False) -> None:
        self.wants = wants
        self.decisions: list[tuple[str, str, str]] = []
        self.writes: list[bool] = []
        self.failed: list[tuple[str, str]] = []

    @property
    def wants_failures(self) -> bool:
        return self.wants

    def decided(self, bans: Sequence[Ban], unbans: Sequence[Unban], cause: str) -> None:
        self.decisions += [("ban", b.address, cause) for b in bans]
        self.decisions += [("unban", u.address, cause if u.reason != "expired" else "expired")
                           for u in unbans]

    def stored(self, seconds: float, ok: bool) -> None:
        assert seconds >= 0
        self.writes.append(ok)

    def failures(self, jail: str, found: Sequence[tuple[str, float]]) -> None:
        self.failed += [(jail, fid) for fid, _ in found]


def test_causes_lines_and_store_writes(tmp_path: Path) -> None:
    async def scenario() -> None:
        clock = Clock(1_800_000_000.0)
        runtime, store, _fw, enforcer = await pipeline(tmp_path, clock)
        seen, metrics = _Recorder(), Metrics(clock.now)
        runtime.observers += [seen, metrics]
        path = f"{tmp_path}/auth.log"
        lines = [failure_line("192.0.2.9", when=clock.now).rstrip("\n")] * 3
        # a login (sshd matches it, but it is no failure: "ignored", as warden regex says)
        login = ("Dec  2 10:00:00 host sshd[4163]: Accepted publickey for alice from "
                 "192.0.2.44 port 18438 ssh2: ED25519 SHA256:IKJbW3")
        await runtime.on_batch(LogBatch(path, [*lines, login], None))
        await runtime.on_batch(LogBatch(path, ["Dec  2 10:00:00 host cron[1]: x"], None))
        jail = runtime.slots["sshd"].jail
        await runtime.carry_out(jail.ban("198.51.100.1", clock.now), wait=True)
        await runtime.carry_out(jail.ban("203.0.113.1", clock.now), share=False)
        await runtime.carry_out(jail.unban("198.51.100.1", clock.now), wait=True)
        clock.now += 61
        await runtime.carry_out(runtime.expire())
        assert seen.decisions == [
            ("ban", "192.0.2.9", "local"), ("ban", "198.51.100.1", "manual"),
            ("ban", "203.0.113.1", "fleet"), ("unban", "198.51.100.1", "manual"),
            ("unban", "192.0.2.9", "expired"), ("unban", "203.0.113.1", "expired")]
        assert seen.writes == [True] * 5
        assert runtime.lines_read == {path: 5}
        text = metrics.render(Scrape(runtime.slots, runtime.lines_read, []))
        for line in ('warden_bans_total{jail="sshd",cause="fleet"} 1',
                     'warden_unbans_total{jail="sshd",cause="expired"} 2',
                     'warden_failures_total{jail="sshd"} 3',
                     'warden_lines_matched_total{jail="sshd"} 3',
                     'warden_lines_ignored_total{jail="sshd"} 1',
                     'warden_bans_active{jail="sshd"} 0'):
            assert line in text.splitlines()

        # a store that fails: the ban is still carried out, the write counted as failed
        def broken(*_: object, **__: object) -> None:
            raise sqlite3.OperationalError("disk I/O error")

        store.add_bans = broken  # type: ignore[method-assign]
        await runtime.carry_out(jail.ban("198.51.100.2", clock.now), wait=True)
        assert seen.writes[-1] is False and jail.is_banned("198.51.100.2")
        assert "warden_store_errors_total 1" in metrics.render(
            Scrape(runtime.slots, {}, [])).splitlines()
        enforcer.cancel()

    asyncio.run(scenario())


def test_failures_reach_the_stream_and_the_fleet(tmp_path: Path) -> None:
    async def scenario() -> None:
        clock = Clock(1_800_000_000.0)
        runtime, _store, _fw, enforcer = await pipeline(tmp_path, clock)
        jail = runtime.slots["sshd"].jail
        path = f"{tmp_path}/auth.log"
        # the fleet collects this jail's failures (its first call starts the collecting)
        assert runtime.collect_failures(jail) == []
        reader = _Recorder(wants=True)
        runtime.observers.append(reader)
        line = failure_line("192.0.2.5", when=clock.now).rstrip("\n")
        await runtime.on_batch(LogBatch(path, [line], None))
        assert reader.failed == [("sshd", "192.0.2.5")]
        # the stream collected it from the jail; the fleet still gets it, once
        assert [fid for fid, _ in runtime.collect_failures(jail)] == ["192.0.2.5"]
        assert runtime.collect_failures(jail) == []
        # the reader leaves: collecting goes on (the jail would keep them otherwise)
        reader.wants = False
        await runtime.on_batch(LogBatch(path, [line.replace("192.0.2.5", "192.0.2.6")], None))
        assert reader.failed == [("sshd", "192.0.2.5")]
        assert [fid for fid, _ in runtime.collect_failures(jail)] == ["192.0.2.6"]
        enforcer.cancel()

    asyncio.run(scenario())


def test_a_reader_from_the_first_line_sees_it(tmp_path: Path) -> None:
    async def scenario() -> None:
        clock = Clock(1_800_000_000.0)
        runtime, _store, _fw, enforcer = await pipeline(tmp_path, clock)
        reader = _Recorder(wants=True)
        runtime.observers.append(reader)
        line = failure_line("192.0.2.8", when=clock.now).rstrip("\n")
        await runtime.on_batch(LogBatch(f"{tmp_path}/auth.log", [line], None))
        assert reader.failed == [("sshd", "192.0.2.8")]
        enforcer.cancel()

    asyncio.run(scenario())
