"""Benchmark: what metrics and the event stream cost the daemon (issue 13).

    .venv/bin/python bench/bench_insight.py [--lines N] [--bans N] [--rounds N]

1. Ingest: N generated auth.log lines (default 200,000; in every 20 lines one address fails
   3 times and is banned, the other 17 are cron lines) go through the real runtime
   (``Runtime.on_batch``, real Jail, in-memory store, dry-run firewall) in 128 KiB
   batches, three ways: no
   observer; the daemon's metrics and event hub with nobody reading; and with one ``warden
   events --follow`` reader (which makes the runtime collect every counted failure). The
   modes are interleaved, best of ``--rounds`` (default 3).
2. Scrape: rendering /metrics beside a jail holding ``--bans`` active bans (default 100,000).
fail2ban has no metrics of its own (exporters poll its socket), so the comparison is with
warden itself with the hooks off. Times are this process's CPU time (``process_time``: the
enforcer's commits run in a worker thread of the same process and count too).
3. The hooks alone: the CPU time of telling the metrics and the hub (no reader, and one
   reader) of 10,000 bans, per ban.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.daemon.pipeline import sshd_tree

from warden.backends.base import JailRule
from warden.backends.dryrun import DryRunBackend
from warden.config import load_jails
from warden.core.addr import Network, parse_network
from warden.core.decisions import Ban
from warden.core.jail import Jail
from warden.daemon.enforcer import Enforcer, Route
from warden.daemon.events import EventHub, Subscriber, build_event, event_line
from warden.daemon.jailspec import jail_spec
from warden.daemon.metrics import Metrics, Scrape
from warden.daemon.runtime import JailSlot, Runtime
from warden.sources.base import LogBatch
from warden.store import MemoryBanStore


def _lines(n: int) -> list[str]:
    out = []
    for i in range(n):
        stamp = f"Dec  2 10:{i // 60 % 60:02d}:{i % 60:02d}"
        if i % 20 < 3:  # every 20 lines: 3 failures of one address
            a = i // 20
            out.append(f"{stamp} host sshd[{1000 + a % 30000}]: Failed password for root from "
                       f"2001:db8::{a // 65536:x}:{a % 65536:x} port 2222 ssh2")
        else:
            out.append(f"{stamp} host CRON[{40000 + i % 9999}]: pam_unix(cron:session): "
                       "session closed for user root")
    return out


async def _ingest(conf: Path, lines: list[str], mode: str) -> float:
    cfg = load_jails(conf).jails[0]
    enforcer = Enforcer({"dryrun": DryRunBackend()})
    await enforcer.start_jails({"sshd": Route(JailRule("sshd"), ("dryrun",))})
    runtime = Runtime(MemoryBanStore(), enforcer)
    path = cfg.logpath[0].pattern
    runtime.add_jail(JailSlot(cfg, Jail(jail_spec(cfg)), (path,)))
    hub = EventHub(time.time, jails=lambda: runtime.slots)
    if mode != "off":
        metrics = Metrics(time.time())
        runtime.observers += [metrics, hub]
        enforcer.on_commit = metrics.committed
    if mode == "reader":
        # a reader whose buffer is emptied as it fills, as a fast `warden events -f` would
        hub.subscribers.add(_Draining(None, (), 1 << 30))
    worker = asyncio.create_task(enforcer.run())
    batches, size, chunk = [], 0, []
    for line in lines:
        chunk.append(line)
        size += len(line) + 1
        if size >= 128 * 1024:
            batches.append(chunk)
            chunk, size = [], 0
    batches.append(chunk)
    start = time.process_time()  # CPU time: the machine is shared, wall time is noise
    for chunk in batches:
        await runtime.on_batch(LogBatch(path, chunk, None))
    await enforcer.submit()
    took = time.process_time() - start
    worker.cancel()
    banned = len(runtime.slots["sshd"].jail.bans)
    assert banned == len(lines) // 20, banned
    return took


class _Draining(Subscriber):
    def offer(self, event: object) -> None:  # type: ignore[override]
        # what the writer would do with it: build the typed event, encode it
        event_line(build_event(event))  # type: ignore[arg-type]


def _scrape(conf: Path, bans: int) -> float:
    cfg = load_jails(conf).jails[0]
    jail = Jail(jail_spec(cfg))
    for i in range(bans):
        jail.ban(f"2001:db8::{i // 65536:x}:{i % 65536:x}", 1_000.0)
    slots = {"sshd": JailSlot(cfg, jail, ())}
    metrics = Metrics(0.0)
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        text = metrics.render(Scrape(slots, {"/var/log/auth.log": 1}, []))
        best = min(best, time.perf_counter() - start)
    assert f'warden_bans_active{{jail="sshd"}} {bans}' in text
    return best


def _hooks(n: int = 10_000) -> tuple[float, float]:
    bans = [Ban("sshd", _net(f"2001:db8::{i // 65536:x}:{i % 65536:x}"), 1.0, 2.0, 1.0)
            for i in range(n)]
    out = []
    for reader in (False, True):
        metrics, hub = Metrics(0.0), EventHub(time.time)
        if reader:
            hub.subscribers.add(_Draining(None, (), 1 << 30))
        start = time.process_time()
        for i in range(0, n, 100):  # batches of 100 bans
            chunk = bans[i:i + 100]
            metrics.decided(chunk, [], "local")
            metrics.stored(0.001, True)
            hub.decided(chunk, [], "local")
        out.append((time.process_time() - start) / n)
    return out[0], out[1]


def _net(text: str) -> Network:
    net = parse_network(text)
    assert net is not None
    return net


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lines", type=int, default=200_000)
    parser.add_argument("--bans", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    lines = _lines(args.lines)
    with tempfile.TemporaryDirectory() as tmp:
        conf = sshd_tree(Path(tmp), findtime="1d", bantime="1d")
        results = {mode: float("inf") for mode in ("off", "on", "reader")}
        for _ in range(args.rounds):  # interleaved: a busy neighbour slows every mode alike
            for mode, best in results.items():
                results[mode] = min(best, asyncio.run(_ingest(conf, lines, mode)))
        for mode, took in results.items():
            print(f"ingest {mode:<6} {args.lines / took:>12,.0f} lines/s  "
                  f"({took * 1000:.0f} ms, {took / results['off'] * 100 - 100:+.1f}% vs off)")
        took = _scrape(conf, args.bans)
        print(f"scrape with {args.bans:,} active bans: {took * 1000:.2f} ms")
        quiet, reading = _hooks()
        print(f"hooks per ban: {quiet * 1e6:.2f} us (no reader), {reading * 1e6:.2f} us "
              "(one reader)")


if __name__ == "__main__":
    main()
