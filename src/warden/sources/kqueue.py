"""FreeBSD's kqueue (stdlib ``select.kqueue``) as a :class:`~warden.sources.watch.Watcher`.

kqueue watches open descriptors, not names: a directory is opened to learn of entries created,
deleted or renamed in it (``NOTE_WRITE``), and each open log to learn of appends, truncation and
its own rename or deletion. A directory that is deleted or renamed is forgotten (its descriptor
closed), so the tail's next pass watches whatever then has its name.

The kernel interface is a parameter (``api``, default :mod:`select`): on Linux, where
``select.kqueue`` does not exist, ``tests/sources/test_kqueue_fake.py`` drives the event logic
with a model of kqueue(2) over real files.
"""

from __future__ import annotations

import contextlib
import os
import select
from typing import Any

from warden.errors import SourceError
from warden.sources.watch import ReadyFlag, WatchEvents, wait_for_events

__all__ = ["KqueueWatcher", "available"]


def available() -> bool:
    """Whether this Python has ``select.kqueue`` (the BSDs and macOS)."""
    return hasattr(select, "kqueue")


class KqueueWatcher:
    """Vnode events of watched directories and open log files on one kqueue."""

    def __init__(self, api: Any = None) -> None:
        if api is None and not available():
            raise SourceError("kqueue is not available on this system; use backend = polling "
                              "(or inotify on Linux)")
        # the kqueue names exist only on the BSDs; typeshed hides them here
        sel: Any = select if api is None else api
        self._sel = sel
        self._kq = sel.kqueue()
        self._flag = ReadyFlag(self._kq.fileno())
        self._dirs: dict[str, int] = {}  # path -> our descriptor of the directory
        self._files: dict[int, str] = {}  # log descriptor (the tail's) -> path
        self._dir_of: dict[int, str] = {}
        self._file_flags = (sel.KQ_NOTE_WRITE | sel.KQ_NOTE_EXTEND | sel.KQ_NOTE_DELETE
                            | sel.KQ_NOTE_RENAME | sel.KQ_NOTE_ATTRIB | sel.KQ_NOTE_REVOKE)

    def _control(self, fd: int, flags: int, fflags: int) -> None:
        sel = self._sel
        event = sel.kevent(fd, filter=sel.KQ_FILTER_VNODE, flags=flags, fflags=fflags)
        self._kq.control([event], 0, 0)

    def watch_dir(self, path: str) -> bool:
        """Open directory ``path`` and watch its entries; ``False`` if it cannot be opened."""
        if path in self._dirs:
            return True
        try:
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | os.O_CLOEXEC)
        except OSError:
            return False
        sel = self._sel
        self._control(fd, sel.KQ_EV_ADD | sel.KQ_EV_CLEAR,
                      sel.KQ_NOTE_WRITE | sel.KQ_NOTE_DELETE | sel.KQ_NOTE_RENAME)
        self._dirs[path] = fd
        self._dir_of[fd] = path
        return True

    def unwatch_dir(self, path: str) -> None:
        """Stop watching directory ``path`` and close our descriptor of it."""
        fd = self._dirs.pop(path, None)
        if fd is not None:
            self._dir_of.pop(fd, None)
            os.close(fd)  # closing a descriptor removes its kevents

    def watched(self) -> set[str]:
        """The directories watched now."""
        return set(self._dirs)

    def watch_file(self, path: str, fd: int) -> None:
        """Watch the tail's open descriptor ``fd`` of ``path`` for writes and renames."""
        sel = self._sel
        self._control(fd, sel.KQ_EV_ADD | sel.KQ_EV_CLEAR, self._file_flags)
        self._files[fd] = path

    def unwatch_file(self, fd: int) -> None:
        """Stop watching ``fd`` (the tail closes it afterwards)."""
        if self._files.pop(fd, None) is not None:
            with contextlib.suppress(OSError):  # already gone with its vnode
                self._control(fd, self._sel.KQ_EV_DELETE, 0)

    def _collect(self) -> WatchEvents:
        out = WatchEvents()
        sel = self._sel
        gone: list[str] = []
        for ev in self._kq.control(None, 256, 0):
            ident = int(ev.ident)
            if ident in self._dir_of:
                out.entries.add(self._dir_of[ident])
                if ev.fflags & (sel.KQ_NOTE_DELETE | sel.KQ_NOTE_RENAME | sel.KQ_NOTE_REVOKE):
                    # our descriptor follows the old directory: forget it, so a directory
                    # created (or moved back) under that name is opened anew
                    gone.append(self._dir_of[ident])
                    out.everything = True
                continue
            path = self._files.get(ident)
            if path is None:
                continue
            out.modified.add(path)
            if ev.fflags & (sel.KQ_NOTE_DELETE | sel.KQ_NOTE_RENAME | sel.KQ_NOTE_REVOKE):
                out.entries.add(os.path.dirname(path) or ".")
        for path in gone:
            self.unwatch_dir(path)
        return out

    def pending(self) -> WatchEvents:
        """The events queued now, without waiting."""
        return self._collect()

    async def wait(self, timeout: float | None) -> WatchEvents:
        """Events queued now, or the next ones within ``timeout`` seconds."""
        return await wait_for_events(self._flag, self._collect, timeout)

    def close(self) -> None:
        """Close the kqueue and our directory descriptors."""
        self._flag.detach()
        for fd in self._dirs.values():
            os.close(fd)
        self._dirs.clear()
        self._dir_of.clear()
        self._files.clear()
        self._kq.close()
