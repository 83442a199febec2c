"""Scanning one big log for ``warden replay`` in parallel, checked to be exact.

The method of ``warden regex``'s chunks (``warden.cli.chunks``), for the several filters of
the jails that read one file: the file is cut at line starts; each chunk but the first is
scanned by a forked worker that first warms its copies of the filters up on the lines before
its chunk (results thrown away) and records their decisive states (``Filter.decisive_state``);
this process scans the first chunk itself. Going through the chunks in order, a worker's
failures are taken only if the states it started from equal the true ones at its chunk's start
and no date template moved during its chunk; its final states then become the true ones.
Otherwise the chunk is scanned again here from the true states. So the failures, and their
order, are those of one sequential scan; only the counting (always here, in order) decides.

What crosses between processes: failures as plain tuples (their field mappings as dicts), in
temporary files (a pipe could fill and stall a worker while this process is busy).
"""

from __future__ import annotations

import codecs
import os
import pickle
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import IO

from warden.core.datedetect import DateDetector
from warden.core.filter import Failure, Filter
from warden.core.jail import Jail
from warden.sources.logread import default_jobs, line_start_after

__all__ = ["MIN_PARALLEL_BYTES", "BlockScanner", "Scanned", "SplitStats", "can_split",
           "file_blocks", "scan_block", "scan_parallel"]

#: Files smaller than this are not worth a fork.
MIN_PARALLEL_BYTES = 8 << 20
_BLOCK = 1 << 20
# How much of the log before a chunk its worker reads to rebuild the filters' states (a
# multiple of the block: the warm-up starts where a block does).
_WARMUP = 4 * _BLOCK
# This process' chunk against an equal share: counting every failure (about 0.4 of the
# scanning's CPU time on an sshd auth log) is its work besides scanning, so with two chunks
# its own is about 0.3 of the file and both processes are busy about as long.
_MINE = 0.6

#: one item found: (jail rank, kind: 0 failure / 1 success, the failure)
Scanned = tuple[int, int, Failure]
_Plain = tuple[int, int, str, float | None, dict[str, object], tuple[str, ...], int]


@dataclass(slots=True)
class SplitStats:
    """How the parallel scans went: chunks scanned by workers and taken, or scanned again."""

    chunks: int = 0
    taken: int = 0
    redone: int = 0


def _filters(jails: Sequence[Jail]) -> list[Filter]:
    return [f for j in jails for f in (*j.filters, *j.success_filters)]


def can_split(path: str, jails: Sequence[Jail]) -> bool:
    """True if ``path`` is worth scanning in parallel and every filter can tell its state."""
    if default_jobs() < 2 or not hasattr(os, "fork") or path.endswith(".gz"):
        return False
    try:
        if os.path.getsize(path) < MIN_PARALLEL_BYTES:
            return False
    except OSError:
        return False
    return all(isinstance(f.dates, DateDetector) and f.decisive_state() is not None
               for f in _filters(jails))


_Counts = list[tuple[int, float]]
_Snapshot = tuple[list[tuple[object, ...]], list[_Counts], list[int]]


def _snapshot(filters: Sequence[Filter]) -> _Snapshot:
    states: list[tuple[object, ...]] = []
    counts: list[_Counts] = []
    moves: list[int] = []
    for flt in filters:
        dates = flt.dates
        assert isinstance(dates, DateDetector)
        state = flt.decisive_state()
        assert state is not None  # can_split checked
        states.append(state)
        counts.append(dates.hit_counts())
        moves.append(dates.reorders)
    return states, counts, moves


def file_blocks(path: str, start: int, end: int, encoding: str) -> Iterator[tuple[list[str], int]]:
    """The lines of bytes ``[start, end)`` of ``path`` (line ends stripped) in lists, each
    with the number of bytes it came from.

    A list ends at the first line start at or after the next multiple of 1 MiB, so a scan
    that starts at such a point (a chunk, a warm-up) gets the very lists a scan from the
    beginning gets there: each list's time (:class:`BlockScanner`) is the same in both."""
    decoder = codecs.getincrementaldecoder(encoding)(errors="replace")
    with open(path, "rb") as stream:
        stream.seek(start)
        pos = start
        while pos < end:
            target = min(end, (pos // _BLOCK + 1) * _BLOCK)
            data = stream.read(target - pos)
            if data and not data.endswith(b"\n") and target < end:
                data += stream.readline()  # to the end of the line cut by the boundary
            if not data:
                break
            pos += len(data)
            text = decoder.decode(data, final=pos >= end)
            lines = text.split("\n")
            if lines[-1] == "":
                lines.pop()
            if "\r" in text:
                lines = [line.rstrip("\r") for line in lines]
            if lines:
                yield lines, len(data)


class BlockScanner:
    """Scans blocks of one file for its jails, each block at its own time.

    The daemon scans what it reads at the time it reads it, a moment after the lines were
    written; so a block is scanned with ``now`` just after its last dated line (``file_now``,
    the file's modification time, at most; the last block's ``now`` when no line of a
    block has a date). Dates without a year are completed against ``file_now``."""

    __slots__ = ("_pattern", "file_now", "jails", "now")

    def __init__(self, jails: Sequence[Jail], file_now: float) -> None:
        self.jails = jails
        self.file_now = file_now
        self.now = file_now
        dated = next((f for j in jails for f in j.filters if not f.journal), None)
        self._pattern = None if dated is None else (dated.definition.datepattern,
                                                    dated.definition.logtimezone)

    def block_now(self, lines: Sequence[str]) -> float:
        """The time to scan ``lines`` at."""
        if self._pattern is not None:
            # a fresh detector: the same answer whatever was probed before (a worker's
            # first block and the same block in one sequential scan agree)
            probe = DateDetector(self._pattern[0], default_tz=self._pattern[1])
            for line in reversed(lines[-20:]):
                found = probe.match(line, self.file_now)
                if found is not None and found.time is not None:
                    self.now = min(found.time + 1.0, self.file_now)
                    break
        return self.now

    def scan(self, lines: list[str]) -> list[Scanned]:
        """What the jails find in ``lines`` (see :func:`scan_block`)."""
        return scan_block(self.jails, lines, self.block_now(lines))


def scan_block(jails: Sequence[Jail], lines: list[str], now: float) -> list[Scanned]:
    """What the jails find in ``lines``, in line order (on one line, in jail order)."""
    found: list[tuple[int, int, int, Failure]] = []
    for rank, jail in enumerate(jails):
        found.extend((index, rank, kind, item) for index, kind, item in jail.scan(lines, now))
    if len(jails) > 1:
        found.sort(key=lambda x: (x[0], x[1]))
    return [(rank, kind, item) for _index, rank, kind, item in found]


def _plain(items: list[Scanned]) -> list[_Plain]:
    return [(rank, kind, f.fid, f.time, dict(f.fields), f.matches, f.regex)
            for rank, kind, f in items]


def _worker(path: str, cuts: tuple[int, int, int], jails: Sequence[Jail], *, now: float,
            encoding: str, out: IO[bytes]) -> None:
    warm, start, end = cuts
    with open(path, "rb") as stream:
        warm = line_start_after(stream, warm, start)
    scanner = BlockScanner(jails, now)
    for lines, _size in file_blocks(path, warm, start, encoding):
        scanner.scan(lines)
    filters = _filters(jails)
    # pickled at once: the states hold live session dictionaries the chunk changes
    before = pickle.dumps((_snapshot(filters), scanner.now), protocol=pickle.HIGHEST_PROTOCOL)
    items: list[_Plain] = []
    count = 0
    for lines, _size in file_blocks(path, start, end, encoding):
        count += len(lines)
        items.extend(_plain(scanner.scan(lines)))
    pickle.dump((before, (_snapshot(filters), scanner.now), items, count), out,
                protocol=pickle.HIGHEST_PROTOCOL)
    out.flush()


def _cuts(path: str, parts: int) -> list[int]:
    """Line starts cutting ``path`` into ``parts`` chunks, where blocks start (after a multiple
    of 1 MiB). This process counts every failure besides scanning the first chunk, and it
    counts a worker's failures only once the worker is done: its chunk is a little shorter
    (``_MINE`` of an equal share)."""
    size = os.path.getsize(path)
    mine = max(round(size / parts * _MINE / _BLOCK), 1) * _BLOCK
    share = max(round((size - mine) / max(parts - 1, 1) / _BLOCK), 1) * _BLOCK
    with open(path, "rb") as stream:
        cuts = [0]
        for i in range(parts - 1):
            cut = line_start_after(stream, mine + i * share, size)
            if cuts[-1] < cut < size:
                cuts.append(cut)
    cuts.append(size)
    return cuts


def scan_parallel(path: str, jails: Sequence[Jail], now: float, *, encoding: str,
                  stats: SplitStats, parts: int | None = None
                  ) -> Iterator[tuple[list[Scanned], int, int]]:
    """Yield ``(items, lines, bytes)`` for the successive parts of ``path``: what one
    sequential scan of it by ``jails`` finds, in order (see the module's docstring)."""
    parts = parts or default_jobs()
    cuts = _cuts(path, parts)
    stats.chunks += len(cuts) - 1
    filters = _filters(jails)
    workers: list[tuple[int, IO[bytes]]] = []
    try:
        for i in range(1, len(cuts) - 1):
            out: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115 - closed below
            pid = os.fork()
            if pid == 0:  # pragma: no cover - the child; its results are what tests check
                code = 1
                try:
                    _worker(path, (max(0, cuts[i] - _WARMUP), cuts[i], cuts[i + 1]), jails,
                            now=now, encoding=encoding, out=out)
                    code = 0
                finally:
                    os._exit(code)
            workers.append((pid, out))
        scanner = BlockScanner(jails, now)
        for lines, size in file_blocks(path, cuts[0], cuts[1], encoding):
            yield scanner.scan(lines), len(lines), size
        for i, (pid, out) in enumerate(workers, 1):
            _, status = os.waitpid(pid, 0)
            workers[i - 1] = (0, out)
            taken = _take(filters, scanner, out) if status == 0 else None
            if taken is None:
                stats.redone += 1
                for lines, size in file_blocks(path, cuts[i], cuts[i + 1], encoding):
                    yield scanner.scan(lines), len(lines), size
            else:
                stats.taken += 1
                yield taken[0], taken[1], cuts[i + 1] - cuts[i]
    finally:
        for pid, out in workers:
            if pid:
                os.kill(pid, 9)
                os.waitpid(pid, 0)
            out.close()


def _take(filters: Sequence[Filter], scanner: BlockScanner, out: IO[bytes]
          ) -> tuple[list[Scanned], int] | None:
    """The worker's items and line count if it started from the true states (which its final
    states then replace), else None."""
    out.seek(0)
    blob, (final_snapshot, final_now), items, count = pickle.load(out)
    after: list[tuple[object, ...]] = final_snapshot[0]
    end_counts: list[_Counts] = final_snapshot[1]
    end_moves: list[int] = final_snapshot[2]
    (before, counts, moves), start_now = pickle.loads(blob)
    state, now_counts, _ = _snapshot(filters)
    if end_moves != moves or before != state or start_now != scanner.now:
        return None
    scanner.now = final_now
    for flt, final, mine, start, end in zip(filters, after, now_counts, counts, end_counts,
                                            strict=True):
        merged = []
        for (hits, used), (first, _), (last, last_used) in zip(mine, start, end, strict=True):
            # hits add up; a template used in the chunk was last used there
            merged.append((hits + last - first, last_used if last > first else used))
        flt.restore(final, merged)
    return [(rank, kind, Failure(fid, time, MappingProxyType(fields), matches, regex))
            for rank, kind, fid, time, fields, matches, regex in items], count
