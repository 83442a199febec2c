"""The kqueue watcher's event logic on Linux, against a model of kqueue(2) over real files.

``FakeSelect`` stands for the BSD half of :mod:`select` (``kqueue``, ``kevent``, the ``KQ_*``
constants with FreeBSD's values from sys/event.h). Its kqueue follows kqueue(2) for
``EVFILT_VNODE``:

- ``control(changelist, nevents, timeout)`` applies the changes first (``EV_ADD`` adds or
  modifies the knote of ``(ident, filter)``, a bad descriptor is ``EBADF``; ``EV_DELETE`` of a
  knote that does not exist is ``ENOENT``), then returns at most ``nevents`` pending events;
- a vnode knote fires for what happened to the file since it was added or last retrieved,
  masked by its ``fflags``: a write that grows the file is ``NOTE_WRITE|NOTE_EXTEND``, one that
  does not ``NOTE_WRITE``, a truncation (a setattr) ``NOTE_ATTRIB``, a new or removed entry
  of a directory ``NOTE_WRITE``, a changed link count ``NOTE_LINK``, the last link gone
  ``NOTE_DELETE``, a new name ``NOTE_RENAME``; ``EV_CLEAR`` resets that state on retrieval;
- closing a descriptor removes its knotes (the model notices the descriptor is gone or now
  names another file);
- the kqueue's own descriptor is readable while events are pending; the model cannot see the
  kernel's writes, so a test calls ``notice()`` where the kernel would wake it.

The model observes the real files (``fstat`` and ``/proc/self/fd``), so the test writes,
renames and deletes real files and the watcher's answer is what a BSD kernel would give.
"""

from __future__ import annotations

import asyncio
import errno
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from warden.sources.kqueue import KqueueWatcher

pytestmark = pytest.mark.skipif(not Path("/proc/self/fd").is_dir(),
                                reason="the model reads file names from /proc/self/fd")

# FreeBSD sys/event.h
EVFILT_READ, EVFILT_VNODE = -1, -4
EV_ADD, EV_DELETE, EV_CLEAR = 0x0001, 0x0002, 0x0020
NOTE_DELETE, NOTE_WRITE, NOTE_EXTEND, NOTE_ATTRIB = 0x01, 0x02, 0x04, 0x08
NOTE_LINK, NOTE_RENAME, NOTE_REVOKE = 0x10, 0x20, 0x40


@dataclass(frozen=True)
class Kevent:
    """select.kevent's fields."""

    ident: int
    filter: int = EVFILT_READ
    flags: int = EV_ADD
    fflags: int = 0
    data: int = 0
    udata: Any = 0


@dataclass(frozen=True)
class _Vnode:
    dev: int
    ino: int
    size: int
    mtime: int
    ctime: int
    nlink: int
    name: str
    directory: bool

    @staticmethod
    def of(fd: int) -> _Vnode:
        st = os.fstat(fd)
        name = os.readlink(f"/proc/self/fd/{fd}")
        return _Vnode(st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns,
                      st.st_nlink, name, stat.S_ISDIR(st.st_mode))


def _changes(before: _Vnode, now: _Vnode) -> int:
    """The vnode notes for what happened between two looks at the same file."""
    notes = 0
    if now.nlink == 0 and before.nlink > 0:
        notes |= NOTE_DELETE
    elif now.nlink != before.nlink:
        notes |= NOTE_LINK
    if now.size > before.size and not now.directory:
        notes |= NOTE_WRITE | NOTE_EXTEND
    elif now.size < before.size and not now.directory:
        notes |= NOTE_ATTRIB  # truncate(2) is a setattr
    elif now.mtime != before.mtime:
        notes |= NOTE_WRITE  # a write in place, or a directory's entries changed
    elif now.ctime != before.ctime and not notes:
        notes |= NOTE_ATTRIB
    if now.name != before.name and not now.name.endswith(" (deleted)"):
        notes |= NOTE_RENAME
    return notes


@dataclass
class _Knote:
    vnode: _Vnode
    fflags: int
    clear: bool


@dataclass
class FakeKqueue:
    knotes: dict[int, _Knote] = field(default_factory=dict)
    closed: bool = False

    def __post_init__(self) -> None:
        self._r, self._w = os.pipe()
        os.set_blocking(self._r, False)

    def fileno(self) -> int:
        return self._r

    def notice(self) -> None:
        """Where the kernel would make the kqueue readable."""
        os.write(self._w, b"!")

    def close(self) -> None:
        if not self.closed:
            os.close(self._r)
            os.close(self._w)
            self.closed = True

    def _forget_closed(self) -> None:
        for ident, knote in list(self.knotes.items()):
            try:
                st = os.fstat(ident)
            except OSError:
                del self.knotes[ident]
                continue
            if (st.st_dev, st.st_ino) != (knote.vnode.dev, knote.vnode.ino):
                del self.knotes[ident]  # closed, and the number now names another file

    def control(self, changelist: list[Kevent] | None, max_events: int,
                timeout: float | None = None) -> list[Kevent]:
        if self.closed:
            raise ValueError("I/O operation on closed kqueue object")
        self._forget_closed()
        for change in changelist or ():
            assert change.filter == EVFILT_VNODE, change
            if change.flags & EV_ADD:
                try:
                    vnode = _Vnode.of(change.ident)
                except OSError as exc:
                    raise OSError(errno.EBADF, "Bad file descriptor") from exc
                old = self.knotes.get(change.ident)
                self.knotes[change.ident] = _Knote(old.vnode if old else vnode, change.fflags,
                                                   bool(change.flags & EV_CLEAR))
            elif change.flags & EV_DELETE and self.knotes.pop(change.ident, None) is None:
                raise FileNotFoundError(errno.ENOENT, "No such file or directory")
        if not max_events:
            return []
        out: list[Kevent] = []
        for ident, knote in self.knotes.items():
            if len(out) == max_events:
                break
            now = _Vnode.of(ident)
            fired = _changes(knote.vnode, now) & knote.fflags
            if fired:
                out.append(Kevent(ident, EVFILT_VNODE, EV_CLEAR if knote.clear else 0, fired))
                if knote.clear:
                    knote.vnode = now
        if not out and timeout != 0:
            raise AssertionError("the watcher would block in kevent(2)")
        while True:
            try:
                if not os.read(self._r, 4096):
                    break
            except BlockingIOError:
                break
        return out


class FakeSelect:
    """The kqueue part of the select module of a BSD."""

    KQ_FILTER_READ, KQ_FILTER_VNODE = EVFILT_READ, EVFILT_VNODE
    KQ_EV_ADD, KQ_EV_DELETE, KQ_EV_CLEAR = EV_ADD, EV_DELETE, EV_CLEAR
    KQ_NOTE_DELETE, KQ_NOTE_WRITE, KQ_NOTE_EXTEND = NOTE_DELETE, NOTE_WRITE, NOTE_EXTEND
    KQ_NOTE_ATTRIB, KQ_NOTE_LINK = NOTE_ATTRIB, NOTE_LINK
    KQ_NOTE_RENAME, KQ_NOTE_REVOKE = NOTE_RENAME, NOTE_REVOKE
    kevent = Kevent

    def __init__(self) -> None:
        self.queues: list[FakeKqueue] = []

    def kqueue(self) -> FakeKqueue:
        kq = FakeKqueue()
        self.queues.append(kq)
        return kq


@pytest.fixture
def sel() -> FakeSelect:
    return FakeSelect()


@pytest.fixture
def watcher(sel: FakeSelect) -> Any:
    w = KqueueWatcher(sel)
    yield w
    w.close()


def _open(path: Path) -> int:
    return os.open(path, os.O_RDONLY)


def test_model_follows_kqueue_2(tmp_path: Path, sel: FakeSelect) -> None:
    # the model's own rules, checked once so the watcher tests stand on them
    kq = sel.kqueue()
    log = tmp_path / "log"
    log.write_text("")
    fd = _open(log)
    with pytest.raises(FileNotFoundError):
        kq.control([Kevent(fd, EVFILT_VNODE, EV_DELETE)], 0, 0)
    with pytest.raises(OSError, match="Bad file descriptor"):
        kq.control([Kevent(9999, EVFILT_VNODE, EV_ADD, NOTE_WRITE)], 0, 0)
    kq.control([Kevent(fd, EVFILT_VNODE, EV_ADD | EV_CLEAR, NOTE_WRITE | NOTE_EXTEND)], 0, 0)
    assert kq.control(None, 8, 0) == []
    log.write_text("grown\n")
    assert kq.control(None, 8, 0) == [Kevent(fd, EVFILT_VNODE, EV_CLEAR,
                                             NOTE_WRITE | NOTE_EXTEND)]
    assert kq.control(None, 8, 0) == []  # EV_CLEAR: retrieved, reset
    os.close(fd)
    log.write_text("again, longer\n")
    assert kq.control(None, 8, 0) == [] and kq.knotes == {}  # close removed the knote
    kq.close()


def test_appends_and_new_entries(tmp_path: Path, watcher: Any) -> None:
    log = tmp_path / "auth.log"
    log.write_text("")
    fd = _open(log)
    assert watcher.watch_dir(str(tmp_path))
    watcher.watch_file(str(log), fd)
    assert not watcher.pending()
    with open(log, "a") as f:
        f.write("one line\n")
    ev = watcher.pending()
    assert (ev.modified, ev.entries, ev.everything) == ({str(log)}, set(), False)
    assert not watcher.pending()  # each change is told once
    (tmp_path / "mail.log").write_text("x\n")
    ev = watcher.pending()
    assert (ev.modified, ev.entries) == (set(), {str(tmp_path)})
    os.truncate(log, 0)  # copytruncate rotation: the tail must look at the file
    assert watcher.pending().modified == {str(log)}
    watcher.unwatch_file(fd)
    os.close(fd)


def test_rotation_by_rename_and_deletion(tmp_path: Path, watcher: Any) -> None:
    log = tmp_path / "auth.log"
    log.write_text("a\n")
    fd = _open(log)
    assert watcher.watch_dir(str(tmp_path))
    watcher.watch_file(str(log), fd)
    log.rename(tmp_path / "auth.log.1")
    ev = watcher.pending()
    # the old file moved (read it to its end) and the directory changed (open the new one)
    assert ev.modified == {str(log)} and ev.entries == {str(tmp_path)}
    (tmp_path / "auth.log.1").unlink()
    ev = watcher.pending()
    assert ev.modified == {str(log)} and str(tmp_path) in ev.entries
    watcher.unwatch_file(fd)
    os.close(fd)


def test_unwatched_file_and_directory_are_silent(tmp_path: Path, watcher: Any,
                                                 sel: FakeSelect) -> None:
    log = tmp_path / "log"
    log.write_text("")
    fd = _open(log)
    assert not watcher.watch_dir(str(tmp_path / "missing"))
    assert watcher.watch_dir(str(tmp_path))
    assert watcher.watch_dir(str(tmp_path))  # twice: one descriptor
    assert watcher.watched() == {str(tmp_path)}
    watcher.watch_file(str(log), fd)
    watcher.unwatch_file(fd)
    watcher.unwatch_file(fd)  # twice is fine
    watcher.unwatch_dir(str(tmp_path))
    assert watcher.watched() == set()
    log.write_text("more\n")
    (tmp_path / "new").write_text("")
    assert not watcher.pending()
    assert sel.queues[0].knotes == {}
    os.close(fd)


def test_deleted_directory_is_watched_again_when_it_comes_back(tmp_path: Path,
                                                               watcher: Any) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    assert watcher.watch_dir(str(logs))
    logs.rmdir()
    ev = watcher.pending()
    assert ev.everything and str(logs) in ev.entries
    assert watcher.watched() == set()  # its descriptor named the deleted directory
    logs.mkdir()
    assert watcher.watch_dir(str(logs))
    (logs / "auth.log").write_text("first\n")
    assert watcher.pending().entries == {str(logs)}


def test_renamed_directory_is_followed_by_name(tmp_path: Path, watcher: Any) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    assert watcher.watch_dir(str(logs))
    logs.rename(tmp_path / "logs.old")
    assert watcher.pending().everything
    logs.mkdir()
    assert watcher.watch_dir(str(logs))
    (tmp_path / "logs.old" / "x").write_text("")
    assert not watcher.pending()  # the old directory is not ours any more
    (logs / "auth.log").write_text("")
    assert watcher.pending().entries == {str(logs)}


def test_more_events_than_one_read(tmp_path: Path, watcher: Any) -> None:
    paths = [tmp_path / f"{i:03d}.log" for i in range(300)]
    fds = []
    for path in paths:
        path.write_text("")
        fd = _open(path)
        fds.append(fd)
        watcher.watch_file(str(path), fd)
    for path in paths:
        path.write_text("x\n")
    first = watcher.pending().modified
    assert len(first) == 256  # one kevent(2) call returns at most its nevents
    assert first | watcher.pending().modified == {str(p) for p in paths}
    for fd in fds:
        watcher.unwatch_file(fd)
        os.close(fd)


def test_wait_wakes_on_the_kqueue_or_times_out(tmp_path: Path, watcher: Any,
                                               sel: FakeSelect) -> None:
    log = tmp_path / "log"
    log.write_text("")
    fd = _open(log)
    watcher.watch_file(str(log), fd)

    async def main() -> None:
        assert (await watcher.wait(0.01)).everything  # nothing: check every file
        loop = asyncio.get_running_loop()

        def kernel() -> None:
            log.write_text("late\n")
            sel.queues[0].notice()

        loop.call_later(0.05, kernel)
        started = loop.time()
        ev = await watcher.wait(5)
        assert ev.modified == {str(log)} and not ev.everything
        assert loop.time() - started < 4

    asyncio.run(main())
    watcher.unwatch_file(fd)
    os.close(fd)

