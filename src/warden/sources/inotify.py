"""Linux inotify, bound with ctypes, as a :class:`~warden.sources.watch.Watcher`.

One watch per directory is enough: a directory watch reports writes to the files in it as well
as entries created, deleted and renamed, so a log that does not exist yet, a rotation and a new
file matching a glob all arrive on the same watch. The descriptor is non-blocking and read with
``os.read``; the event loop wakes the tail as soon as the kernel queues an event.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import os
import struct

from warden.errors import SourceError
from warden.sources.watch import ReadyFlag, WatchEvents, join, wait_for_events

__all__ = ["Inotify", "InotifyWatcher"]

IN_MODIFY = 0x00000002
IN_ATTRIB = 0x00000004
IN_CLOSE_WRITE = 0x00000008
IN_MOVED_FROM = 0x00000040
IN_MOVED_TO = 0x00000080
IN_CREATE = 0x00000100
IN_DELETE = 0x00000200
IN_DELETE_SELF = 0x00000400
IN_MOVE_SELF = 0x00000800
IN_Q_OVERFLOW = 0x00004000
IN_IGNORED = 0x00008000
IN_ONLYDIR = 0x01000000
IN_NONBLOCK = 0o4000
IN_CLOEXEC = 0o2000000

_ENTRY = IN_ATTRIB | IN_MOVED_FROM | IN_MOVED_TO | IN_CREATE | IN_DELETE
_SELF = IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED
_DIR_MASK = IN_MODIFY | IN_CLOSE_WRITE | _ENTRY | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR
_HEADER = struct.Struct("iIII")  # wd, mask, cookie, len (struct inotify_event)


class Inotify:
    """The three inotify system calls and event decoding; nothing more."""

    def __init__(self) -> None:
        name = ctypes.util.find_library("c")
        try:
            libc = ctypes.CDLL(name, use_errno=True)
            self._init1 = libc.inotify_init1
            self._add = libc.inotify_add_watch
            self._rm = libc.inotify_rm_watch
        except (OSError, AttributeError) as exc:
            raise SourceError(f"inotify is not available here ({exc}); use backend = polling") \
                from None
        self._add.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32]
        self._rm.argtypes = [ctypes.c_int, ctypes.c_int]
        fd = self._init1(IN_NONBLOCK | IN_CLOEXEC)
        if fd < 0:
            err = ctypes.get_errno()
            raise SourceError(f"inotify_init1 failed: {os.strerror(err)} "
                              "(raise fs.inotify.max_user_instances or use backend = polling)")
        self.fd: int = fd

    def add_watch(self, path: str, mask: int) -> int:
        """Add or replace the watch of ``path``; returns its watch descriptor."""
        wd = int(self._add(self.fd, os.fsencode(path), mask))
        if wd < 0:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err), path)
        return wd

    def rm_watch(self, wd: int) -> None:
        """Remove a watch (ignores one the kernel already dropped)."""
        if self._rm(self.fd, wd) < 0 and ctypes.get_errno() != errno.EINVAL:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err))

    def read(self) -> list[tuple[int, int, str]]:
        """All queued events as ``(wd, mask, name)``; empty when none are queued."""
        events: list[tuple[int, int, str]] = []
        while True:
            try:
                data = os.read(self.fd, 65536)
            except BlockingIOError:
                return events
            pos, size = 0, len(data)
            while pos < size:
                wd, mask, _cookie, length = _HEADER.unpack_from(data, pos)
                pos += _HEADER.size
                name = data[pos:pos + length].split(b"\0", 1)[0]
                pos += length
                events.append((wd, mask, os.fsdecode(name)))
            if size < 32768:
                return events

    def close(self) -> None:
        """Close the inotify descriptor; safe to call twice."""
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


class InotifyWatcher:
    """Directory watches on one inotify descriptor."""

    def __init__(self) -> None:
        self._ino = Inotify()
        self._flag = ReadyFlag(self._ino.fd)
        self._dirs: dict[str, int] = {}
        self._by_wd: dict[int, str] = {}

    def watch_dir(self, path: str) -> bool:
        """Watch entries of and writes in directory ``path``; ``False`` if it cannot be."""
        if path in self._dirs:
            return True
        try:
            wd = self._ino.add_watch(path, _DIR_MASK)
        except OSError as exc:
            if exc.errno in (errno.ENOENT, errno.ENOTDIR, errno.EACCES):
                return False
            if exc.errno == errno.ENOSPC:
                raise SourceError(
                    f"cannot watch {path}: the inotify watch limit is reached "
                    "(raise fs.inotify.max_user_watches or use backend = polling)"
                ) from None
            raise
        self._dirs[path] = wd
        self._by_wd[wd] = path
        return True

    def unwatch_dir(self, path: str) -> None:
        """Stop watching directory ``path``."""
        wd = self._dirs.pop(path, None)
        if wd is not None:
            self._by_wd.pop(wd, None)
            # the kernel may have dropped it already (directory deleted)
            with contextlib.suppress(OSError):
                self._ino.rm_watch(wd)

    def watch_file(self, path: str, fd: int) -> None:
        """Nothing to do: the directory watch reports writes to its files."""

    def unwatch_file(self, fd: int) -> None:
        """Nothing to do: the directory watch reports writes to its files."""

    def watched(self) -> set[str]:
        """The directories watched now."""
        return set(self._dirs)

    def _collect(self) -> WatchEvents:
        out = WatchEvents()
        for wd, mask, name in self._ino.read():
            if mask & IN_Q_OVERFLOW:
                out.everything = True
                continue
            directory = self._by_wd.get(wd)
            if directory is None:
                continue
            if mask & _SELF:
                # the directory itself went away: the kernel drops the watch; forget it so a
                # directory created again under that name is watched anew
                if mask & IN_IGNORED or mask & (IN_DELETE_SELF | IN_MOVE_SELF):
                    self._dirs.pop(directory, None)
                    self._by_wd.pop(wd, None)
                out.entries.add(directory)
                out.everything = True
                continue
            if mask & _ENTRY:
                out.entries.add(directory)
            if name and mask & (IN_MODIFY | IN_CLOSE_WRITE | _ENTRY):
                out.modified.add(join(directory, name))
        return out

    def pending(self) -> WatchEvents:
        """The events queued now, without waiting."""
        return self._collect()

    async def wait(self, timeout: float | None) -> WatchEvents:
        """Events queued now, or the next ones within ``timeout`` seconds."""
        return await wait_for_events(self._flag, self._collect, timeout)

    def close(self) -> None:
        """Remove every watch and close the descriptor."""
        self._flag.detach()
        self._dirs.clear()
        self._by_wd.clear()
        self._ino.close()
