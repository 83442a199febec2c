"""Worker processes that run the filters of busy jails on a core of their own (``workers``).

With ``workers = N`` (or ``auto``: one per CPU) in warden.conf's ``[Definition]``, each jail
reading log files (up to N of them, in the order their lines first arrive) gets a process of
its own that runs the jail's filters over its lines: the slow part of the ingest, about two
thirds of the daemon's CPU per line. The main process still reads the files, counts the
failures (tracker, decisions), writes the store and drives the firewall, so bans are decided
in one place and in the order of the lines, exactly as without workers.

The worker is this module run as ``python -m warden.daemon.workers``; its standard input and
output carry the typed, checked messages of :mod:`warden.daemon.workerproto` (marshal of plain
values, never a pickle): the jail's spec once, then per batch its lines in and what the jail's
filters found in them out, with the lines they matched and ignored (the jail's
``line_counts``, which the daemon adds to its own jail's). An answer that is not exactly the
answer to the next batch sent is that worker's failure: it is killed and started again.

A batch is handed to the main process's counting once its answer arrives (answers come in the
order of the batches), and the file position after it is stored only then, so a worker that
dies loses no line: it is started again and is sent the batches it had not answered. Its
filter state (a multi-line buffer, a session not yet complete) starts anew, as after a daemon
restart. A worker that cannot be started (twice in a row without answering anything) gives
its jail back to the main process, which scans its lines itself from then on.

Only the lines of files go to workers (journal and syslog entries carry their own time and are
few), and only when the jails of a file do not depend on each other's bans
(``bantime.overalljails``): see :meth:`Workers.takes`.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import gc
import logging
import os
import sys
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import BinaryIO

from warden.core.jail import Jail
from warden.daemon.workerproto import (
    HEADER,
    Answer,
    decode_answer,
    decode_batch,
    decode_spec,
    encode_answer,
    encode_batch,
    encode_spec,
    message_size,
)
from warden.errors import ProtocolError
from warden.sources.base import LogBatch

__all__ = ["Workers", "serve"]

log = logging.getLogger("warden.workers")

#: the main process's counting of a batch a worker scanned for ``jail``
Count = Callable[[Jail, LogBatch, Answer, float], Awaitable[None]]

# Batches a worker may have in hand before the reader waits: enough to keep it busy while the
# main process counts the previous ones, few enough to bound memory (app._BLOCK bytes each).
_IN_FLIGHT = 4
# Starts without a single answer after which a jail goes back to the main process.
_MAX_FAILED_STARTS = 2


@dataclass(slots=True)
class _Batch:
    """A batch on its way through the workers of its jails."""

    seq: int  # its number, which the worker's answer must carry
    batch: LogBatch
    now: float
    waiting: int  # jails whose counting of it has not been done yet
    on_done: Callable[[LogBatch], None]

    def counted(self) -> None:
        self.waiting -= 1
        if self.waiting == 0:
            self.on_done(self.batch)


@dataclass(slots=True)
class _Worker:
    """One jail's worker process and the batches it has not answered, in order."""

    jail: Jail
    spec: object
    proc: asyncio.subprocess.Process | None = None
    sent: collections.deque[_Batch] = field(default_factory=collections.deque)
    room: asyncio.Event = field(default_factory=asyncio.Event)
    reader: asyncio.Task[None] | None = None
    failed_starts: int = 0
    answered: bool = False
    broken: bool = False


class Workers:
    """The worker processes of a daemon, one per busy jail (see the module docstring)."""

    def __init__(self, limit: int, count: Count,
                 spawn: Callable[[Coroutine[object, object, None]], asyncio.Task[None]]) -> None:
        """``limit``: at most this many processes; ``count``: the main process's counting of
        a scanned batch; ``spawn``: runs a task in the daemon's task group."""
        self.limit = limit
        self._count = count
        self._spawn = spawn
        self._workers: dict[str, _Worker] = {}
        #: jails the main process scans itself (beyond ``limit``, or whose worker failed)
        self._local: set[int] = set()
        #: workers started again after they died or answered garbage
        self.restarts = 0
        self._seq = 0

    def takes(self, jails: Sequence[Jail]) -> bool:
        """True if the lines of a file read by ``jails`` go to workers: no jail among them is
        scanned by the main process and there is, or may be, a worker for each."""
        if not jails:
            return False
        spare = self.limit - len(self._workers)
        for jail in jails:
            found = self._workers.get(jail.name)
            if found is not None and found.jail is jail and not found.broken:
                continue
            if id(jail) in self._local or (found is None and spare <= 0):
                return False
            spare -= found is None
        return True

    async def submit(self, batch: LogBatch, jails: Sequence[Jail], now: float,
                     on_done: Callable[[LogBatch], None]) -> None:
        """Send ``batch`` to the workers of ``jails`` (starting those that are missing or
        out of date); ``on_done(batch)`` once every jail has counted it."""
        self._seq += 1
        entry = _Batch(self._seq, batch, now, len(jails), on_done)
        for jail in jails:
            worker = await self._worker_for(jail)
            await _fewer_than(worker, _IN_FLIGHT)
            worker.sent.append(entry)
            if not worker.broken:
                self._send(worker, encode_batch(entry.seq, batch.lines, now))
            elif worker.reader is None or worker.reader.done():
                # its reader no longer runs: the batch is scanned here
                await self._count_here(worker)

    async def drain(self) -> None:
        """Wait until every batch sent has been counted."""
        for worker in list(self._workers.values()):
            await _fewer_than(worker, 1)

    def forget(self, live: Sequence[Jail]) -> None:
        """Stop the workers of jails that are no longer running (after a reload)."""
        keep = {id(j) for j in live}
        for name, worker in list(self._workers.items()):
            if id(worker.jail) not in keep and not worker.sent:
                self._stop(worker)
                del self._workers[name]
        self._local &= keep

    async def close(self) -> None:
        """Stop every worker and wait for its process to end (the daemon stops): each ends
        at the end of its input, or is killed after a second. What they have not answered
        is not counted and its position not stored: it is read again at the next start."""
        workers = list(self._workers.values())
        self._workers.clear()
        procs = [w.proc for w in workers if w.proc is not None]
        for worker in workers:
            worker.sent.clear()
            if worker.reader is not None:
                worker.reader.cancel()
        for proc in procs:
            _close_input(proc)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(*(p.wait() for p in procs)), 1.0)
        for proc in procs:
            _kill(proc)  # (only those still running)
            await proc.wait()

    def status(self) -> dict[str, int | None]:
        """Each jail with a worker and its process id (None: its jail is scanned here)."""
        return {name: (w.proc.pid if w.proc is not None and not w.broken else None)
                for name, w in self._workers.items()}

    # -- inside ------------------------------------------------------------------------------
    async def _worker_for(self, jail: Jail) -> _Worker:
        worker = self._workers.get(jail.name)
        if worker is not None and (worker.jail is not jail or worker.spec is not jail.spec):
            # rebuilt or reconfigured: what the old filters were sent is counted first, in
            # order, then the new filters take over
            await _fewer_than(worker, 1)
            self._stop(worker)
            worker = None
        if worker is None:
            worker = _Worker(jail, jail.spec)
            self._workers[jail.name] = worker
            await self._start(worker)
            worker.reader = self._spawn(self._read(worker))
        return worker

    async def _start(self, worker: _Worker) -> None:
        try:
            worker.proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "warden.daemon.workers",
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
        except OSError as exc:
            log.error("[%s] worker process cannot start (%s): its lines are scanned here",
                      worker.jail.name, exc)
            worker.proc = None
            self._give_back(worker)
            return
        self._send(worker, encode_spec(worker.jail.spec))

    def _send(self, worker: _Worker, message: bytes) -> None:
        proc = worker.proc
        if proc is None or proc.stdin is None or proc.stdin.is_closing():
            return  # it died: the reader starts it again and sends what it has not answered
        proc.stdin.write(message)

    async def _read(self, worker: _Worker) -> None:
        """Take the worker's answers in order and count them; start it again if it dies."""
        try:
            while True:
                if worker.broken:
                    await self._count_here(worker)
                    return
                proc = worker.proc
                assert proc is not None and proc.stdout is not None
                try:
                    header = await proc.stdout.readexactly(HEADER.size)
                    data = await proc.stdout.readexactly(message_size(header))
                    if not worker.sent:
                        raise ProtocolError("an answer to no batch")
                    entry = worker.sent[0]
                    answer = _decode(data, entry)
                except (asyncio.IncompleteReadError, ConnectionError):
                    if worker not in self._workers.values() and not worker.sent:
                        return  # stopped on purpose
                    await self._restart(worker, ending=True)
                    continue
                except ProtocolError as exc:
                    log.error("[%s] worker process %d answered garbage (%s): it is killed",
                              worker.jail.name, proc.pid, exc)
                    await self._restart(worker)
                    continue
                worker.answered = True
                worker.failed_starts = 0
                await self._counted(worker, entry, answer)
        finally:
            if worker.proc is not None:
                _close_input(worker.proc)  # it ends at the end of its input

    async def _restart(self, worker: _Worker, *, ending: bool = False) -> None:
        """Start the worker again; ``ending``: it closed its output (it died, or is dying)."""
        proc = worker.proc
        code = None
        if proc is not None:
            if ending:
                # Give it a moment to end by itself: a signal now would race the reaping
                # of a process that already ended (``Popen.send_signal`` reaps it first,
                # and asyncio then only knows it as "unknown child process", exit 255).
                _close_input(proc)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(proc.wait(), 1.0)
            _kill(proc)
            code = await proc.wait()
        worker.failed_starts = 0 if worker.answered else worker.failed_starts + 1
        worker.answered = False
        if worker.failed_starts >= _MAX_FAILED_STARTS:
            log.error("[%s] worker process keeps failing (exit %s): its lines are scanned "
                      "here from now on", worker.jail.name, code)
            self._give_back(worker)
            return
        self.restarts += 1
        log.warning("[%s] worker process ended (exit %s); started again, %d batch(es) sent "
                    "again", worker.jail.name, code, len(worker.sent))
        await asyncio.sleep(0.1 * worker.failed_starts)
        await self._start(worker)
        for entry in worker.sent:
            self._send(worker, encode_batch(entry.seq, entry.batch.lines, entry.now))

    async def _counted(self, worker: _Worker, entry: _Batch, answer: Answer) -> None:
        last = entry.waiting == 1
        if last:
            # the batch's position is known handled now: the counting's store commit, which
            # comes before the counting first waits, writes it with the bans it decides
            entry.counted()
        await self._count(worker.jail, entry.batch, answer, entry.now)
        worker.sent.popleft()
        worker.room.set()
        if not last:
            entry.counted()

    def _give_back(self, worker: _Worker) -> None:
        worker.broken = True
        self._local.add(id(worker.jail))

    async def _count_here(self, worker: _Worker) -> None:
        """A broken worker's batches, scanned by the main process's own filters."""
        while worker.sent:
            entry = worker.sent[0]
            # (the jail's own filters count the lines they match themselves)
            found = worker.jail.scan(entry.batch.lines, entry.now)
            await self._counted(worker, entry, Answer(entry.seq, found, 0, 0))

    def _stop(self, worker: _Worker) -> None:
        if worker.proc is not None:
            _close_input(worker.proc)  # it ends at the end of its input
        if worker.reader is not None and not worker.sent:
            worker.reader.cancel()


async def _fewer_than(worker: _Worker, count: int) -> None:
    """Wait until ``worker`` has fewer than ``count`` batches unanswered (1: none)."""
    while len(worker.sent) >= count:
        worker.room.clear()
        await worker.room.wait()


def _decode(data: bytes, entry: _Batch) -> Answer:
    # The answer's many small tuples would set off the cycle collector, which then walks the
    # daemon's whole (large) state each time, as in Runtime.on_batch: over a third of the
    # decoding's cost even with a small state (0.76 -> 0.48 us a line, sshd auth log).
    collecting = gc.isenabled()
    gc.disable()
    try:
        return decode_answer(data, entry.seq, len(entry.batch.lines))
    finally:
        if collecting:
            gc.enable()


def _close_input(proc: asyncio.subprocess.Process) -> None:
    if proc.stdin is not None and not proc.stdin.is_closing():
        proc.stdin.close()


def _kill(proc: asyncio.subprocess.Process) -> None:
    # its stdin closed too: the pipes' transport is closed once the process is reaped
    _close_input(proc)
    if proc.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()


# -- the worker process ----------------------------------------------------------------------
def _read_message(stream: BinaryIO) -> bytes | None:
    header = stream.read(HEADER.size)
    if len(header) < HEADER.size:
        return None
    size = message_size(header)
    data = stream.read(size)
    return data if len(data) == size else None


def serve(stdin: BinaryIO, stdout: BinaryIO) -> None:
    """The worker's loop: a jail spec, then batches in, what its filters found out (until
    the end of its input). A message that is not what the daemon sends ends it with a
    ProtocolError."""
    data = _read_message(stdin)
    if data is None:
        return
    jail = Jail(decode_spec(data))
    while (data := _read_message(stdin)) is not None:
        # no cycle collection while a batch is scanned (it makes no reference cycles; about
        # 5 % of the worker's CPU): the collector runs between batches
        gc.disable()
        try:
            seq, lines, now = decode_batch(data)
            matched, ignored = jail.line_counts()
            found = jail.scan(lines, now)
            after = jail.line_counts()
            answer = encode_answer(seq, found, after[0] - matched, after[1] - ignored)
        finally:
            gc.enable()
        stdout.write(answer)
        stdout.flush()


def main() -> None:
    """``python -m warden.daemon.workers``: serve on standard input and output."""
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # nothing printed by accident can break the protocol
    try:
        serve(sys.stdin.buffer, out)
    except (BrokenPipeError, KeyboardInterrupt):
        pass
    except ProtocolError as exc:
        raise SystemExit(f"warden worker: {exc}") from None


if __name__ == "__main__":
    main()
