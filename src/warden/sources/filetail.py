"""The file source: every log file of every jail, each read by one :class:`FileTail`.

A :class:`FileSource` is given ``logpath`` patterns (globs allowed), finds the files, keeps one
reader per file however many patterns (jails) name it, and yields :class:`LogBatch` values as
lines are appended. A watcher (inotify, kqueue or polling) wakes it; directories are watched
rather than files, so a missing log, a rotation and a new file matching a glob are all noticed
as soon as the kernel reports them. A periodic full check (``rescan`` seconds) is the safety
net for what no watch can see (a glob's directory created later, a rotated file moved away).

A file that cannot be read (permissions, a directory or a FIFO in its place) is logged once at
WARNING when it becomes so and once at INFO when that ends, never at each check in between.
"""

from __future__ import annotations

import asyncio
import glob
import logging
import os
import time
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass, field

from warden.errors import SourceError
from warden.sources.base import (
    FilePosition,
    LogBatch,
    SourceState,
    SourceStatus,
    resolve_backend,
    resolve_encoding,
)
from warden.sources.inotify import InotifyWatcher
from warden.sources.kqueue import KqueueWatcher
from warden.sources.lines import DEFAULT_MAX_LINE
from warden.sources.polling import PollingWatcher
from warden.sources.tail import BLOCK, FileTail, Start
from warden.sources.watch import Watcher, WatchEvents

__all__ = ["FileSource", "LogSpec", "make_watcher"]

_LOOK = 0.05  # while a backlog is read, every file is checked this often (seconds)

log = logging.getLogger("warden.sources")

#: what a tail's state was before a check: (state, error)
_Before = tuple[SourceState, str | None]


def _report(tail: FileTail, before: _Before) -> None:
    """Log the change of a tail's readability, if it changed (one line per change)."""
    state, error = before
    if tail.state is SourceState.ERROR:
        if state is not SourceState.ERROR or tail.error != error:
            log.warning("%s; watching for it to become readable", tail.error)
    elif state is SourceState.ERROR:
        if tail.state is SourceState.OK:
            log.info("%s: readable again", tail.path)
        else:
            log.info("%s: no longer unreadable, now missing; watching for it to appear",
                     tail.path)


@dataclass(frozen=True, slots=True)
class LogSpec:
    """One ``logpath`` pattern and how files it matches are read.

    When several specs match one file, the first one's encoding and start apply.
    """

    pattern: str
    encoding: str = "utf-8"
    start: Start = field(default_factory=Start)


class FileSource:
    """Tail every file the patterns match; a :class:`~warden.sources.base.LogSource`."""

    def __init__(
        self,
        specs: Iterable[LogSpec],
        *,
        backend: str = "auto",
        watcher: Watcher | None = None,
        positions: Mapping[str, FilePosition] | None = None,
        max_line: int = DEFAULT_MAX_LINE,
        block: int = BLOCK,
        rescan: float = 5.0,
        grace: float = 5.0,
        interval: float = 1.0,
    ) -> None:
        self._specs = [LogSpec(s.pattern, resolve_encoding(s.encoding), s.start) for s in specs]
        kind = resolve_backend(backend)
        if kind == "systemd":
            raise SourceError("backend = systemd reads the journal, not files: "
                              "JournalSource reads it")
        self._watcher_kind = kind
        self._watcher = watcher
        self._interval = interval
        self._positions = dict(positions or {})
        self._max_line = max_line
        self._block = block
        self._rescan = rescan
        self._grace = grace
        self._tails: dict[str, FileTail] = {}
        # the names a watcher's events give a tail's file: its directory joined with its name,
        # and its resolved path (a symlinked log is watched in its target's directory)
        self._by_event: dict[str, FileTail] = {}
        self._owners: dict[str, list[str]] = {}  # path -> the patterns that matched it
        self._unmatched: dict[str, None] = {}  # glob patterns matching nothing (ordered)
        self._dirs: set[str] = set()
        self._started = False
        self._closed = False

    # -- public ------------------------------------------------------------------------------
    @property
    def watcher(self) -> Watcher:
        """The watcher in use (created on first use)."""
        if self._watcher is None:
            self._watcher = make_watcher(self._watcher_kind, interval=self._interval)
        return self._watcher

    def status(self) -> list[SourceStatus]:
        """One entry per file, and one per glob pattern that matches nothing yet."""
        out = [tail.status() for tail in self._tails.values()]
        out.extend(SourceStatus(p, SourceState.MISSING) for p in self._unmatched)
        return out

    def patterns(self, path: str) -> tuple[str, ...]:
        """The ``logpath`` patterns that matched ``path`` (a batch's ``source``), in spec order.

        The daemon hands a batch to every jail that names one of these patterns.
        """
        owners = self._owners.get(path, ())
        return tuple(s.pattern for s in self._specs if s.pattern in owners)

    def positions(self) -> dict[str, FilePosition]:
        """The position of every file read so far, by path (for the daemon to store)."""
        out: dict[str, FilePosition] = {}
        for path, tail in self._tails.items():
            pos = tail.position()
            if pos is not None:
                out[path] = pos
        return out

    def read_now(self, *, now: float | None = None) -> list[LogBatch]:
        """Check every file and return all that is new (used by tests and benchmarks)."""
        moment = self._now(now)
        batches, more = self._pass(WatchEvents(everything=True), moment)
        while more:
            extra, more = self._pass(WatchEvents(modified=more), moment)
            batches.extend(extra)
        return batches

    async def batches(self) -> AsyncIterator[LogBatch]:
        """Yield batches as lines are appended, until :meth:`close`."""
        loop = asyncio.get_running_loop()
        events = WatchEvents(everything=True)
        last_full = last_look = loop.time()
        while not self._closed:
            now = loop.time()
            if now - last_full >= self._rescan:
                events.everything = True
            if events.everything:
                last_full = now
            batches, more = self._pass(events, now)
            for batch in batches:
                yield batch
            if self._closed:
                return
            if more:
                # a file had more than one block waiting: keep reading it without waiting, but
                # let the other tasks run between blocks and take in the events queued for the
                # other files, so a flood in one log does not starve them
                await asyncio.sleep(0)
                events = self.watcher.pending()
                events.modified |= more
                if loop.time() - last_look >= _LOOK:  # polling knows no events: look anyway
                    events.everything = True
                    last_look = loop.time()
                continue
            events = await self.watcher.wait(self._timeout(loop.time(), last_full))
            last_look = loop.time()

    def close(self) -> None:
        """Close every file and the watcher; safe to call twice."""
        self._closed = True
        watcher = self._watcher
        for tail in self._tails.values():
            fd = tail.fd
            if watcher is not None and fd is not None:
                watcher.unwatch_file(fd)
            tail.close()
        if watcher is not None:
            watcher.close()

    # -- one pass ------------------------------------------------------------------------------
    def _now(self, now: float | None) -> float:
        return time.monotonic() if now is None else now

    def _timeout(self, now: float, last_full: float) -> float:
        until = last_full + self._rescan
        for tail in self._tails.values():
            deadline = tail.next_deadline()
            if deadline is not None:
                until = min(until, deadline)
        return max(0.0, until - now)

    def _pass(self, events: WatchEvents, now: float) -> tuple[list[LogBatch], set[str]]:
        out: list[LogBatch] = []
        more: set[str] = set()
        if events.everything or not self._started:
            self._discover(None)
            todo = {path: True for path in self._tails}
        else:
            todo = {}
            if events.entries:
                self._discover(events.entries)
                for path, tail in self._tails.items():
                    if _dir(path) in events.entries or _dir(_real(path)) in events.entries:
                        todo[path] = True
                    elif tail.retired or tail.fd is None:
                        todo.setdefault(path, True)
            for path in events.modified:
                # a busy directory reports writes to files nobody watches: dictionary lookups
                # only, no system call, for those
                hit = self._by_event.get(path)
                if hit is not None:
                    todo.setdefault(hit.path, False)
            for path, tail in self._tails.items():
                if tail.retired:
                    todo.setdefault(path, False)
        changed = False
        for path, follow in todo.items():
            tail = self._tails[path]
            before, opened = tail.fd, tail.opened
            state = tail.state, tail.error
            batches, pending = tail.check(now=now, follow=follow, grace=self._grace)
            _report(tail, state)
            if tail.opened != opened or tail.fd != before:
                # compared by count, not number: a closed descriptor's number is reused
                self._rewatch(tail, before)
                changed = True
            out.extend(batches)
            if pending:
                more.add(path)
        if changed:
            self._sync_dirs()
        return out, more

    # -- finding files -------------------------------------------------------------------------
    def _discover(self, dirs: set[str] | None) -> None:
        """Match the patterns (those of ``dirs`` only, if given) and start new tails."""
        initial = not self._started
        self._started = True
        for spec in self._specs:
            pattern = spec.pattern
            magic = glob.has_magic(pattern)
            if dirs is not None and not magic and _dir(pattern) not in dirs:
                continue
            paths = sorted(glob.glob(pattern)) if magic else [pattern]
            if magic and not paths:
                self._unmatched[pattern] = None
            else:
                self._unmatched.pop(pattern, None)
            for path in paths:
                owners = self._owners.setdefault(path, [])
                if pattern not in owners:
                    owners.append(pattern)
                if path not in self._tails:
                    self._add(path, spec, initial=initial)
        self._sync_dirs()

    def _add(self, path: str, spec: LogSpec, *, initial: bool) -> None:
        tail = FileTail(path, encoding=spec.encoding, max_line=self._max_line, block=self._block)
        self._tails[path] = tail
        state = tail.state, tail.error
        if initial:
            tail.open(resume=self._positions.get(path), start=spec.start)
        else:
            tail.open()  # appeared while running: all of it is new
        _report(tail, state)
        self._rewatch(tail, None)

    def _rewatch(self, tail: FileTail, old_fd: int | None) -> None:
        watcher = self.watcher
        if old_fd is not None:
            watcher.unwatch_file(old_fd)
        for name, other in list(self._by_event.items()):
            if other is tail:
                del self._by_event[name]
        self._by_event[tail.path] = tail
        self._by_event[os.path.join(_dir(tail.path), os.path.basename(tail.path))] = tail
        self._by_event[_real(tail.path)] = tail
        if tail.fd is not None:
            watcher.watch_file(tail.path, tail.fd)

    def _sync_dirs(self) -> None:
        wanted: set[str] = set()
        for spec in self._specs:
            if not glob.has_magic(_dir(spec.pattern)):
                wanted.add(_dir(spec.pattern))
        for path in self._tails:
            wanted.add(_dir(path))
            wanted.add(_dir(_real(path)))
        watcher = self.watcher
        for gone in self._dirs - wanted:
            watcher.unwatch_dir(gone)
        # a directory that cannot be watched yet is retried at the next pass
        self._dirs = {d for d in wanted if watcher.watch_dir(d)}


def make_watcher(kind: str, *, interval: float = 1.0) -> Watcher:
    """The watcher for a resolved backend name: ``inotify``, ``kqueue`` or ``polling``."""
    if kind == "inotify":
        return InotifyWatcher()
    if kind == "kqueue":
        return KqueueWatcher()
    if kind == "polling":
        return PollingWatcher(interval=interval)
    raise ValueError(f"no file watcher for backend {kind!r}")


def _dir(path: str) -> str:
    return os.path.dirname(path) or "."


def _real(path: str) -> str:
    return os.path.realpath(path)
