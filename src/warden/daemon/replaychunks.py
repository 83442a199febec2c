"""Scanning one big log for ``warden replay`` in parallel, checked to be exact.

The method of ``warden regex``'s chunks (``warden.cli.chunks``), for the several filters of
the jails that read one file: the file is cut at line starts; each chunk but the first is
scanned by a forked worker that first warms its copies of the filters up on the lines before
its chunk (results thrown away) and records their decisive states (``Filter.decisive_state``);
this process scans the first chunk itself. Going through the chunks in order, a worker's
failures are taken only if the states it started from equal the true ones at its chunk's start,
and only up to the block in which a date template moves (the worker stops there); the states
after its last block taken then become the true ones, and the rest of its chunk, if any, is
scanned here from them. A refused chunk is scanned again here whole. So the failures, and their
order, are those of one sequential scan; only the counting (always here, in order) decides.

A worker sends each block's failures as soon as it has scanned the block, so this process
counts them while the worker scans on: the counting is not left until the workers are done.
What crosses between processes: failures as plain tuples (their field mappings as dicts), in
temporary files (a pipe could fill and stall a worker while this process is busy), each
announced on a pipe.
"""

from __future__ import annotations

import codecs
import os
import pickle
import struct
import tempfile
from collections.abc import Generator, Iterator, Mapping, Sequence
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
# This process' chunk against an equal share: counting every failure (about a fifth of the
# scanning's CPU time on an sshd auth log) is its work besides scanning, so with two chunks
# its own is about 0.4 of the file and both processes are busy about as long (measured on
# 1M lines: 2.96 and 2.90 CPU s).
_MINE = 0.8

#: one item found: (jail rank, kind: 0 failure / 1 success, the failure)
Scanned = tuple[int, int, Failure]
_Plain = tuple[int, int, str, float | None, dict[str, object] | None, tuple[str, ...], int]


@dataclass(slots=True)
class SplitStats:
    """How the parallel scans went: chunks scanned by workers and taken, or scanned again."""

    chunks: int = 0
    taken: int = 0
    redone: int = 0
    #: of those redone, chunks whose worker stopped partway (a date template moved): its
    #: blocks until then were taken
    partial: int = 0


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
    # (most failures of a replay carry no fields at all: None, not an empty dict each)
    return [(rank, kind, f.fid, f.time, dict(f.fields) if f.fields else None, f.matches,
             f.regex) for rank, kind, f in items]


class _Channel:
    """A worker's records, in order: pickles appended to a temporary file, each announced
    by its length on a pipe once it is whole (a pipe alone could fill and stall the worker
    while this process is busy; a length is 8 bytes, so the pipe never fills)."""

    __slots__ = ("_data", "_offset", "_ready", "_signal")

    def __init__(self) -> None:
        self._data: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115 - closed by close()
        self._ready, self._signal = os.pipe()
        self._offset = 0

    def writer(self) -> None:
        """In the worker: keep only the writing ends."""
        os.close(self._ready)

    def reader(self) -> None:
        """In this process, once the worker is forked: keep only the reading ends (the
        pipe reads as ended when the worker exits)."""
        os.close(self._signal)
        self._signal = -1

    def send(self, record: object) -> None:
        data = pickle.dumps(record, protocol=pickle.HIGHEST_PROTOCOL)
        self._data.write(data)
        self._data.flush()
        os.write(self._signal, struct.pack("<Q", len(data)))

    def receive(self) -> object | None:
        """The next record, waiting for it; None once the worker has ended without one."""
        head = b""
        while len(head) < 8:
            more = os.read(self._ready, 8 - len(head))
            if not more:
                return None
            head += more
        (size,) = struct.unpack("<Q", head)
        parts: list[bytes] = []
        fd, got = self._data.fileno(), 0
        while got < size:
            part = os.pread(fd, size - got, self._offset + got)
            if not part:
                return None
            parts.append(part)
            got += len(part)
        self._offset += size
        record: object = pickle.loads(b"".join(parts))
        return record

    def close(self) -> None:
        os.close(self._ready)
        if self._signal >= 0:
            os.close(self._signal)
        self._data.close()


def _worker(path: str, cuts: tuple[int, int, int], jails: Sequence[Jail], *, now: float,
            encoding: str, channel: _Channel) -> None:
    """Warm the filters up on ``[warm, start)``, send their states, then each block's
    items with the states after it; stop before a block in which a date template moved
    (from there the results may differ from a sequential scan's)."""
    warm, start, end = cuts
    with open(path, "rb") as stream:
        warm = line_start_after(stream, warm, start)
    scanner = BlockScanner(jails, now)
    for lines, _size in file_blocks(path, warm, start, encoding):
        scanner.scan(lines)
    filters = _filters(jails)
    # pickled at once: the states hold live session dictionaries the chunk changes
    first = _snapshot(filters)
    channel.send(pickle.dumps((first, scanner.now), protocol=pickle.HIGHEST_PROTOCOL))
    for lines, size in file_blocks(path, start, end, encoding):
        items = scanner.scan(lines)
        after = _snapshot(filters)
        if after[2] != first[2]:
            return
        channel.send((_plain(items), len(lines), size,
                      pickle.dumps((after, scanner.now), protocol=pickle.HIGHEST_PROTOCOL)))


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
    """Yield ``(items, lines, bytes)`` for the successive blocks of ``path``: what one
    sequential scan of it by ``jails`` finds, in order (see the module's docstring). A
    worker's blocks are handed on as it sends them, so they are counted while it scans on."""
    parts = parts or default_jobs()
    cuts = _cuts(path, parts)
    stats.chunks += len(cuts) - 1
    filters = _filters(jails)
    workers: list[tuple[int, _Channel]] = []
    try:
        for i in range(1, len(cuts) - 1):
            channel = _Channel()
            pid = os.fork()
            if pid == 0:  # pragma: no cover - the child; its results are what tests check
                code = 1
                try:
                    channel.writer()
                    _worker(path, (max(0, cuts[i] - _WARMUP), cuts[i], cuts[i + 1]), jails,
                            now=now, encoding=encoding, channel=channel)
                    code = 0
                finally:
                    os._exit(code)
            channel.reader()
            workers.append((pid, channel))
        scanner = BlockScanner(jails, now)
        for lines, size in file_blocks(path, cuts[0], cuts[1], encoding):
            yield scanner.scan(lines), len(lines), size
        for i, (pid, channel) in enumerate(workers, 1):
            start = yield from _take(filters, scanner, channel, cuts[i])
            if start == cuts[i + 1]:
                stats.taken += 1
            else:
                stats.redone += 1
                if start > cuts[i]:
                    stats.partial += 1
                for lines, size in file_blocks(path, start, cuts[i + 1], encoding):
                    yield scanner.scan(lines), len(lines), size
            os.kill(pid, 9)  # (done already, unless its states were refused)
            os.waitpid(pid, 0)
            workers[i - 1] = (0, channel)
    finally:
        for pid, channel in workers:
            if pid:
                os.kill(pid, 9)
                os.waitpid(pid, 0)
            channel.close()


def _take(filters: Sequence[Filter], scanner: BlockScanner, channel: _Channel, start: int
          ) -> Generator[tuple[list[Scanned], int, int], None, int]:
    """Yield the worker's blocks if it started from the true states at ``start``, and make
    the states after its last block the true ones; return where the worker's blocks end
    (``start`` if none is taken): the rest of its chunk is to be scanned here."""
    header = channel.receive()
    if header is None:
        return start
    assert isinstance(header, bytes)
    (before, counts, _moves), start_now = pickle.loads(header)
    state, now_counts, _ = _snapshot(filters)
    if before != state or start_now != scanner.now:
        return start
    last: bytes | None = None
    empty: Mapping[str, object] = MappingProxyType({})
    while (record := channel.receive()) is not None:
        assert isinstance(record, tuple)
        plain, count, size, last = record
        start += size
        yield [(rank, kind, Failure(fid, time, empty if fields is None
                                    else MappingProxyType(fields), matches, regex))
               for rank, kind, fid, time, fields, matches, regex in plain], count, size
    if last is None:
        return start
    (after, end_counts, _), scanner.now = pickle.loads(last)
    for flt, final, mine, first, end in zip(filters, after, now_counts, counts, end_counts,
                                            strict=True):
        merged = []
        for (hits, used), (begun, _), (ended, ended_used) in zip(mine, first, end,
                                                                  strict=True):
            # hits add up; a template used in the chunk was last used there
            merged.append((hits + ended - begun, ended_used if ended > begun else used))
        flt.restore(final, merged)
    return start
