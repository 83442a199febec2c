"""``python -m warden.daemon.replay``: what ``warden replay`` runs.

The jails are built exactly as the daemon builds them (:meth:`Daemon.build_jail`: ignoreip
host names resolved, ignoreself with this host's addresses, bantime.increment, networks),
and driven by :class:`warden.core.replay.Replay` with each failure at its log time. Nothing
touches the firewall or the state database: the daemon object is made with an in-memory
store, no backend and no fleet, and is never started.

Which jails read which LOG: each jail whose ``logpath`` names the file (as the daemon matches
paths), or the jails of ``--jail``. Ban lines the replay makes are fed, as the daemon writes
them to its log, to the jails that read the daemon's log file (``recidive``), unless that
file is itself one of the LOGs. Exit codes: 0 done, 2 usage or configuration error.
"""

from __future__ import annotations

import argparse
import asyncio
import codecs
import contextlib
import dataclasses
import datetime
import gc
import gzip
import heapq
import json
import logging
import os
import socket
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import BinaryIO, TextIO

from warden.config import load_jails
from warden.core.addr import Network
from warden.core.decisions import CheckIgnore
from warden.core.filter import Failure
from warden.core.replay import Difference, JailTotals, Replay, ReplayBan, compare
from warden.daemon.app import Daemon, own_addresses
from warden.daemon.logtarget import log_file
from warden.daemon.replaychunks import (
    BlockScanner,
    Scanned,
    SplitStats,
    can_split,
    file_blocks,
    scan_parallel,
)
from warden.daemon.runtime import JailSlot, resolved_networks, run_ignorecommand
from warden.daemon.settings import read_settings
from warden.errors import ConfigError, WardenError
from warden.sources.base import resolve_encoding
from warden.sources.progress import Progress

__all__ = ["ReplayRun", "main", "parse_when", "replay"]

_BLOCK = 1 << 20
# one failure on its way to the replay: (time, order, jail, item, success)
_Item = tuple[float, int, str, Failure, bool]


class UsageError(WardenError):
    """A LOG, a --jail or a time the user gave is wrong (exit 2)."""


def parse_when(text: str) -> float:
    """``--since``/``--until``: an epoch, or an ISO date and time (local time unless it
    names its zone): ``2026-12-02``, ``2026-12-02T09:30``, ``2026-12-02 09:30:00+01:00``."""
    try:
        return float(text)
    except ValueError:
        pass
    try:
        moment = datetime.datetime.fromisoformat(text.strip())
    except ValueError:
        raise UsageError(f"not a time: {text!r} (use an epoch or 2026-12-02T09:30)") from None
    return moment.timestamp()


@dataclasses.dataclass(slots=True)
class ReplayRun:
    """One replay's outcome: the bans in order, per-jail totals, lines read."""

    bans: list[ReplayBan]
    totals: dict[str, JailTotals]
    lines: int
    seconds: float
    first: float | None
    last: float | None
    split: SplitStats = dataclasses.field(default_factory=SplitStats)


def _open(path: str) -> BinaryIO:
    raw = open(path, "rb")  # noqa: SIM115 - closed by _blocks
    if path.endswith(".gz"):
        return gzip.GzipFile(fileobj=raw)  # type: ignore[return-value]
    return raw


def _blocks(path: str, encoding: str) -> Iterator[tuple[list[str], int]]:
    """The lines of a compressed ``path`` (line ends stripped) in lists of about 1 MiB, each
    with the number of bytes read for it."""
    decoder = codecs.getincrementaldecoder(encoding)(errors="replace")
    tail = ""
    with _open(path) as stream:
        while True:
            chunk = stream.read(_BLOCK)
            text = tail + decoder.decode(chunk, final=not chunk)
            lines = text.split("\n")
            tail = "" if not chunk else lines.pop()
            if lines and lines[-1] == "" and not chunk:
                lines.pop()
            if "\r" in text:
                lines = [line.rstrip("\r") for line in lines]
            if lines:
                yield lines, len(chunk)
            if not chunk:
                return


def _failures(path: str, slots: Sequence[JailSlot], order: int, *, progress: Progress,
              counter: list[int], split: SplitStats, parallel: bool = True) -> Iterator[_Item]:
    """What the jails' filters find in ``path``, in line order, each with its log time (the
    last known one for a line without a date). A big file is scanned in parallel
    (:mod:`warden.daemon.replaychunks`: the same failures in the same order), unless
    ``parallel`` is false."""
    encoding = resolve_encoding(slots[0].config.logencoding)
    jails = [s.jail for s in slots]
    names = [j.name for j in jails]
    # dates without a year are completed as the daemon does while it reads the file
    now = max(os.stat(path).st_mtime, 0.0) + 1.0
    last = now
    parts: Iterator[tuple[list[Scanned], int, int]]
    if parallel and can_split(path, jails):
        parts = scan_parallel(path, jails, now, encoding=encoding, stats=split)
    else:
        scanner = BlockScanner(jails, now)
        # a plain file in the blocks a parallel scan would use (the same times per block)
        blocks = _blocks(path, encoding) if path.endswith(".gz") else \
            file_blocks(path, 0, os.path.getsize(path), encoding)
        parts = ((scanner.scan(lines), len(lines), size) for lines, size in blocks)
    for items, count, size in parts:
        counter[0] += count
        progress.add(count, size)
        for rank, kind, item in items:
            at = item.time
            if at is None or at > now:
                at = last
            else:
                last = at
            yield at, order, names[rank], item, bool(kind)


def _ban_line(ban: ReplayBan) -> str:
    """The daemon's log line for ``ban`` (fail2ban's layout, which recidive reads)."""
    stamp = time.localtime(ban.time)
    millis = int((ban.time % 1) * 1000)
    return (f"{time.strftime('%Y-%m-%d %H:%M:%S', stamp)},{millis:03d} fail2ban.actions"
            f"        [{os.getpid()}]: NOTICE  [{ban.jail}] Ban {ban.address}")


def _resolver(host: str) -> list[Network]:
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except OSError:
        return []
    return resolved_networks(infos)


def _ignorecommand(slots: dict[str, JailSlot]) -> Callable[[CheckIgnore], bool]:
    """The jail's ``ignorecommand``, run as the daemon runs it (data in the environment)."""
    def ask(question: CheckIgnore) -> bool:
        command = slots[question.jail].config.ignorecommand or ""
        return asyncio.run(run_ignorecommand(command, question))

    return ask


async def _slots(config_dir: Path, only: Sequence[str]) -> tuple[dict[str, JailSlot], str | None]:
    config = load_jails(config_dir)
    settings = read_settings(config.settings, foreground=False)
    # an in-memory store, no fleet, never started: nothing outside this process changes
    # (and no matched lines kept: nothing here shows them, and keeping them costs per failure)
    settings = dataclasses.replace(settings, dbfile=":memory:", dbmaxmatches=0)
    config = dataclasses.replace(config, fleet=None)
    known = {cfg.name for cfg in config.jails}
    for name in only:
        if name not in known:
            raise UsageError(f"--jail {name}: no such enabled jail in {config_dir} "
                             f"(jails: {', '.join(sorted(known)) or 'none'})")
    daemon = Daemon(config_dir, settings, config)
    daemon.self_addresses = await own_addresses()
    slots: dict[str, JailSlot] = {}
    for cfg in config.jails:
        slot = await daemon.build_jail(cfg)
        if slot is not None:
            # nothing here shows a failure's fields or lines: failures without them are
            # cheaper to find and to hand between processes (kept where ignorecommand is set)
            slot.jail.count_only()
            slots[cfg.name] = slot
    target = log_file(settings.logtarget)
    return slots, None if target is None else os.path.abspath(target)


def replay(config_dir: Path, logs: Sequence[str], *, jails: Sequence[str] = (),
           since: float | None = None, until: float | None = None,
           progress: TextIO | None = None) -> ReplayRun:
    """Replay ``logs`` through the jails of ``config_dir``; raise :class:`UsageError` or
    ``ConfigError`` for what the user must change."""
    started = time.monotonic()
    slots, daemon_log = asyncio.run(_slots(config_dir, jails))
    paths = [os.path.abspath(p) for p in logs]
    for given, path in zip(logs, paths, strict=True):
        if not os.path.isfile(path):
            raise UsageError(f"{given}: no such file")
    readers: dict[str, list[JailSlot]] = {}
    for path, given in zip(paths, logs, strict=True):
        chosen = [s for name, s in slots.items() if name in jails] if jails else \
            [s for s in slots.values() if s.watches(path)]
        if not chosen:
            raise UsageError(f"{given}: no jail's logpath names this file; say which jail "
                             "reads it with --jail")
        readers[path] = chosen
    # recidive: the daemon's own log, made of the replay's bans, unless it was given
    watchers = [] if daemon_log is None or daemon_log in paths else \
        [s.jail for s in slots.values() if s.watches(daemon_log)]
    used = {s.config.name for ss in readers.values() for s in ss} | {j.name for j in watchers}
    run = Replay({name: s.jail for name, s in slots.items() if name in used},
                 resolve=_resolver, ignored=_ignorecommand(slots),
                 since=since, until=until)
    total = sum(os.path.getsize(p) for p in paths)
    meter = Progress("replay", total, progress if progress is not None else sys.stderr)
    counter = [0]
    split = SplitStats()
    # (a jail reading the bans' lines as well as a LOG sees them between the LOG's lines:
    # the LOG is then scanned in order, the workers could not know of them)
    streams = [_failures(path, readers[path], order, progress=meter, counter=counter,
                         split=split,
                         parallel=not any(s.jail in watchers for s in readers[path]))
               for order, path in enumerate(paths)]
    # The counting allocates many small objects that never form cycles (as in warden regex):
    # the cycle collector rests while the logs are read, over a heap frozen after loading.
    gc.freeze()
    gc.disable()
    try:
        merged = streams[0] if len(streams) == 1 else heapq.merge(*streams, key=lambda x: x[0])
        for at, _order, name, item, success in merged:
            made = run.add(name, item, at, success=success)
            while made and watchers:
                line = "\n".join(_ban_line(b) for b in made)
                more: list[ReplayBan] = []
                for jail in watchers:
                    for _index, kind, found in jail.scan(line.split("\n"), at + 1.0):
                        more += run.add(jail.name, found,
                                        at if found.time is None else found.time,
                                        success=bool(kind))
                made = more
    finally:
        gc.enable()
        gc.unfreeze()
        meter.close()
    return ReplayRun(run.bans, run.totals, counter[0], time.monotonic() - started,
                     run.first, run.last, split)


# -- output ---------------------------------------------------------------------------------
def _when(epoch: float | None) -> str:
    if epoch is None:
        return "never"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(epoch))


def _duration(seconds: float) -> str:
    if seconds < 0:
        return "ever"
    parts = []
    rest = round(seconds)
    for unit, size in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if rest >= size:
            parts.append(f"{rest // size}{unit}")
            rest %= size
    return "".join(parts) or "0s"


def _ban_text(ban: ReplayBan) -> str:
    what = "prolonged to" if ban.prolonged else "banned for"
    return (f"{_when(ban.time)}  [{ban.jail}] {ban.address} {what} {_duration(ban.bantime)} "
            f"(until {_when(ban.until)}), ban #{ban.count}, {ban.failures} failures")


def _ban_json(ban: ReplayBan) -> dict[str, object]:
    # (dataclasses.asdict deep-copies field by field: a fifth of the replay's time with
    # many bans)
    return {"jail": ban.jail, "address": ban.address, "time": ban.time, "until": ban.until,
            "bantime": ban.bantime, "count": ban.count, "failures": ban.failures,
            "prolonged": ban.prolonged}


def render(run: ReplayRun, out: TextIO, *, as_json: bool) -> None:
    """Print ``run``: the bans in order and a summary per jail."""
    totals = sorted(run.totals.values(), key=lambda t: t.jail)
    if as_json:
        # (dumps, not dump: dump writes through the pure-Python encoder, a third of a second
        # for the 42,000 bans of a 1M-line log)
        out.write(json.dumps({
            "bans": [_ban_json(b) for b in run.bans],
            "jails": [{"jail": t.jail, "failures": t.failures, "bans": t.bans,
                       "prolonged": t.prolonged, "unbans": t.unbans,
                       "addresses": len(t.addresses)} for t in totals],
            "lines": run.lines, "first": run.first, "last": run.last,
            "chunks": {"parallel": run.split.chunks, "taken": run.split.taken,
                       "redone": run.split.redone}}))
        out.write("\n")
        return
    for ban in run.bans:
        out.write(_ban_text(ban) + "\n")
    if run.bans:
        out.write("\n")
    span = f"from {_when(run.first)} to {_when(run.last)}" if run.first is not None else \
        "no failures"
    rate = run.lines / run.seconds if run.seconds > 0 else 0.0
    split = run.split
    chunks = (f"; {split.chunks} chunks in parallel, {split.taken} checked and taken, "
              f"{split.redone} scanned again in order" if split.chunks else "")
    out.write(f"Replayed {run.lines:,} lines ({span}) in {run.seconds:.1f} s, "
              f"{rate:,.0f} lines/s{chunks}\n")
    out.write(f"{'jail':<20} {'failures':>9} {'bans':>7} {'prolonged':>9} {'addresses':>9} "
              f"{'unbans':>7}\n")
    for t in totals:
        out.write(f"{t.jail:<20} {t.failures:>9,} {t.bans:>7,} {t.prolonged:>9,} "
                  f"{len(t.addresses):>9,} {t.unbans:>7,}\n")


def _diff_text(diff: Difference) -> str:
    a, b = diff.first, diff.second
    if diff.kind == "only-first":
        assert a is not None
        return f"- {_ban_text(a)}"
    if diff.kind == "only-second":
        assert b is not None
        return f"+ {_ban_text(b)}"
    assert a is not None and b is not None
    if diff.kind in ("earlier", "later"):
        return (f"~ [{diff.jail}] {diff.address} banned {diff.kind}: {_when(a.time)} -> "
                f"{_when(b.time)} ({_duration(abs(b.time - a.time))})")
    return (f"~ [{diff.jail}] {diff.address} banned {diff.kind}: {_duration(a.bantime)} -> "
            f"{_duration(b.bantime)}")


def render_compare(first: ReplayRun, second: ReplayRun, out: TextIO, *, as_json: bool,
                   names: tuple[str, str]) -> None:
    """Print how ``second`` differs from ``first``."""
    diffs = compare(first.bans, second.bans)
    if as_json:
        out.write(json.dumps({
            "first": names[0], "second": names[1],
            "differences": [{"kind": d.kind, "jail": d.jail, "address": d.address,
                             "first": None if d.first is None else _ban_json(d.first),
                             "second": None if d.second is None else _ban_json(d.second)}
                            for d in diffs]}))
        out.write("\n")
        return
    def new(run: ReplayRun) -> int:
        return sum(1 for b in run.bans if not b.prolonged)

    out.write(f"--- {names[0]}: {new(first)} bans\n+++ {names[1]}: {new(second)} bans\n")
    for diff in diffs:
        out.write(_diff_text(diff) + "\n")
    kinds: dict[str, int] = {}
    for diff in diffs:
        kinds[diff.kind] = kinds.get(diff.kind, 0) + 1
    summary = ", ".join(f"{n} {k}" for k, n in sorted(kinds.items())) or "no difference"
    out.write(f"{summary}\n")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="warden replay")
    parser.add_argument("logs", nargs="+", metavar="LOG")
    parser.add_argument("-c", "--config-dir", type=Path, default=Path("/etc/warden"))
    parser.add_argument("--jail", action="append", default=[])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--since", default=None)
    parser.add_argument("--until", default=None)
    parser.add_argument("--compare", type=Path, default=None)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run a replay; return the exit code."""
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="warden: %(message)s")
    try:
        since = None if args.since is None else parse_when(args.since)
        until = None if args.until is None else parse_when(args.until)
        first = replay(args.config_dir, args.logs, jails=args.jail, since=since, until=until)
        if args.compare is None:
            render(first, sys.stdout, as_json=args.json)
            return 0
        second = replay(args.compare, args.logs, jails=args.jail, since=since, until=until)
        render_compare(first, second, sys.stdout, as_json=args.json,
                       names=(str(args.config_dir), str(args.compare)))
        return 0
    except (UsageError, ConfigError) as exc:
        print(f"warden: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # the reader went away (| head): nothing more to say, and nobody to say it to
        with contextlib.suppress(OSError):
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - for the exit flush
        return 0
    except OSError as exc:
        print(f"warden: {exc.filename or ''}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 1


if __name__ == "__main__":
    sys.exit(main())
