"""Speculative parallel runs of one filter over one log file, checked to be exact.

A filter carries state from line to line (dates, sessions, the last date, the multi-line
buffer), so the lines of a file cannot simply be shared out. Instead the file is cut at line
starts into chunks; the first is processed here, each other one in a forked worker that first
*warms up* on the lines before its chunk (from a fresh filter, results thrown away), records its
filter's decisive state (``Filter.decisive_state``), then processes its chunk and records its
final state. Going through the chunks in order, the true state at the start of a chunk is known
once the chunk before it is done; the worker's results are taken only if

* its recorded starting state equals the true one, and
* no date template was moved during its chunk (the only step reading the statistics that are
  not part of the decisive state).

Processing is a deterministic function of (decisive state, lines), so the taken results are
exactly those of one sequential run; the worker's final state (with the template statistics
added up) becomes the true state at the next chunk. When the check fails, the chunk is simply
processed again here, sequentially, from the true state. Results travel through temporary files
(a pipe could fill and stall a worker while this process is busy).
"""

from __future__ import annotations

import os
import pickle
import sys
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import IO, TypeVar

from warden.core.datedetect import DateDetector
from warden.core.filter import Filter
from warden.sources.logread import default_jobs, iter_lines, line_start_after, open_range

__all__ = ["ChunkStats", "Job", "WarmUp", "default_jobs", "run_chunked"]

R = TypeVar("R")

#: A job: process these lines with this filter, knowing the number of the first line; write
#: any per-line output to the stream, return a picklable result.
Job = Callable[[Filter, Iterable[str], int, IO[str]], R]
#: Feed lines to a filter for their effect on its state only (results are not wanted).
WarmUp = Callable[[Filter, Iterable[str]], object]

# Files smaller than this are not worth a fork.
MIN_PARALLEL_BYTES = 8 << 20
# How much of the log before a chunk its worker reads to rebuild the filter's state (sessions
# are the slowest to converge: fail2ban keeps the last 100).
WARMUP_BYTES = 4 << 20
# The same for a filter whose state is only its dates (no sessions, no multi-line buffer):
# the date detector's state is that of its last lines, and the last date that of the last
# dated line, so a few thousand lines are enough (and the check at the chunk's start tells).
SHORT_WARMUP_BYTES = 256 << 10


@dataclass
class ChunkStats:
    """How a chunked run went: chunks, how many were taken from workers, how many redone."""

    chunks: int = 1
    taken: int = 0
    redone: int = 0


def _cuts(path: str, size: int, parts: int, warmup: int) -> list[int]:
    """Line starts cutting ``path`` into ``parts`` chunks of equal work: every chunk but the
    first also costs its worker a warm-up, so the first (done here) is that much longer."""
    share = (size + (parts - 1) * min(warmup, size // parts)) // parts
    with open(path, "rb") as stream:
        cuts = [0]
        for i in range(1, parts):
            target = share + (i - 1) * (share - min(warmup, size // parts))
            cut = line_start_after(stream, target, size)
            if cut > cuts[-1] and cut < size:
                cuts.append(cut)
    cuts.append(size)
    return cuts


def _lines(path: str, start: int, end: int) -> Iterable[str]:
    return iter_lines(open_range(path, start, end), close=True)


def _line_number(path: str, offset: int) -> int:
    """The number of lines before byte ``offset`` (a line start)."""
    count = 0
    with open_range(path, 0, offset) as stream:
        while block := stream.read(1 << 20):
            count += block.count(b"\n")
    return count


def _snapshot(flt: Filter) -> tuple[object, list[tuple[int, float]], int]:
    dates = flt.dates
    assert isinstance(dates, DateDetector)
    return flt.decisive_state(), dates.hit_counts(), dates.reorders


def _worker(path: str, cuts: tuple[int, int, int], flt: Filter, job: Job[R],
            warm_up: WarmUp, *, number: bool, meta: IO[bytes], out: IO[str]) -> None:
    warm, start, end = cuts
    with open(path, "rb") as stream:
        warm = line_start_after(stream, warm, start)
    warm_up(flt, _lines(path, warm, start))
    # Pickled at once: the state holds the live session dictionaries, changed by the chunk.
    before = pickle.dumps(_snapshot(flt), protocol=pickle.HIGHEST_PROTOCOL)
    first = _line_number(path, start) + 1 if number else 1
    result = job(flt, _lines(path, start, end), first, out)
    after, end_counts, end_reorders = _snapshot(flt)
    out.flush()
    pickle.dump((before, after, end_counts, end_reorders, result), meta,
                protocol=pickle.HIGHEST_PROTOCOL)
    meta.flush()


def run_chunked(path: str, flt: Filter, job: Job[R], warm_up: WarmUp, out: IO[str], *,
                jobs: int, number: bool = False, min_bytes: int | None = None,
                warmup: int | None = None) -> tuple[list[R], ChunkStats]:
    """Run ``job`` over the log ``path`` in up to ``jobs`` chunks; return the results of the
    chunks in order (as one sequential run would have given them) and how it went.

    ``warm_up`` must change the filter's state exactly as ``job`` does (workers use it on the
    lines before their chunk). Per-line output of the job goes to ``out`` in file order.
    ``number``: the job needs the true number of each chunk's first line (counting them costs
    a read of the file's head).
    """
    min_bytes = MIN_PARALLEL_BYTES if min_bytes is None else min_bytes
    if warmup is None:
        warmup = WARMUP_BYTES if _keeps_lines(flt) else SHORT_WARMUP_BYTES
    size = os.path.getsize(path)
    if (jobs < 2 or size < min_bytes or not hasattr(os, "fork")
            or flt.decisive_state() is None):
        # One piece: read to the end, as it is then (a growing log is read whole).
        lines = iter_lines(open(path, "rb"), close=True)  # noqa: SIM115 - closed by iter_lines
        return [job(flt, lines, 1, out)], ChunkStats()
    cuts = _cuts(path, size, jobs, warmup)
    stats = ChunkStats(chunks=len(cuts) - 1)
    out.flush()
    sys.stderr.flush()
    workers: list[tuple[int, IO[bytes], IO[str]]] = []
    try:
        for i in range(1, len(cuts) - 1):
            # Closed in the finally clause below, in this process and (at exit) the worker.
            meta = tempfile.TemporaryFile()  # noqa: SIM115
            text = tempfile.TemporaryFile("w+", encoding="utf-8", newline="")  # noqa: SIM115
            pid = os.fork()
            if pid == 0:  # pragma: no cover - the child; its results are what the tests check
                code = 1
                try:
                    _worker(path, (max(0, cuts[i] - warmup), cuts[i], cuts[i + 1]), flt, job,
                            warm_up, number=number, meta=meta, out=text)
                    code = 0
                finally:
                    os._exit(code)
            workers.append((pid, meta, text))
        results = [job(flt, _lines(path, cuts[0], cuts[1]), 1, out)]
        for i, (pid, done_meta, done_text) in enumerate(workers, 1):
            _, status = os.waitpid(pid, 0)
            workers[i - 1] = (0, done_meta, done_text)
            result = _take(flt, done_meta, done_text, out) if status == 0 else _REDO
            if result is _REDO:
                stats.redone += 1
                first = _line_number(path, cuts[i]) + 1 if number else 1
                result = job(flt, _lines(path, cuts[i], cuts[i + 1]), first, out)
            else:
                stats.taken += 1
            results.append(result)  # type: ignore[arg-type]
    finally:
        for pid, left_meta, left_text in workers:
            if pid:
                os.kill(pid, 9)
                os.waitpid(pid, 0)
            left_meta.close()
            left_text.close()
    return results, stats


_REDO = object()


def _keeps_lines(flt: Filter) -> bool:
    return flt.matcher.keeps_lines or (flt.success is not None
                                       and flt.success.matcher.keeps_lines)


def _take(flt: Filter, meta: IO[bytes], text: IO[str], out: IO[str]) -> object:
    """The worker's result if its starting state was the true one (then its final state is
    taken over and its output copied to ``out``), else ``_REDO``."""
    meta.seek(0)
    blob, after, end_counts, end_reorders, result = pickle.load(meta)
    before, counts, reorders = pickle.loads(blob)
    state, now_counts, _ = _snapshot(flt)
    if end_reorders != reorders or before != state:
        return _REDO
    merged = []
    for (hits, used), (start, _), (end, end_used) in zip(now_counts, counts, end_counts,
                                                         strict=True):
        # Hits add up; a template used in the chunk was last used there.
        merged.append((hits + end - start, end_used if end > start else used))
    flt.restore(after, merged)
    text.seek(0)
    while piece := text.read(1 << 20):
        out.write(piece)
    return result
