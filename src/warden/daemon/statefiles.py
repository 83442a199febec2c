"""The daemon's state files (pid, socket, database, lock, log): where and how they are made.

The daemon runs as root and writes into directories named by the configuration. Three rules
keep another local user from steering those writes or reading what they hold:

* a state directory is refused when someone else could swap its entries: it (or a directory
  above it) is writable by group or others without the sticky bit, or is owned by another
  user who is not root. A missing one is created 0700.
* a file is written under a fresh random name in the same directory, created with
  ``O_CREAT | O_EXCL | O_NOFOLLOW`` and mode 0600, then renamed over the target: a symlink
  planted at a predictable temporary name is never followed.
* the database is locked (``flock`` on ``<dbfile>.lock``) for the daemon's life, so a second
  daemon with the same database stops before it touches the firewall.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import secrets
import stat
from pathlib import Path

from warden.errors import WardenError

__all__ = [
    "DatabaseLock",
    "DatabaseLocked",
    "UnsafeStatePath",
    "check_dir",
    "lock_database",
    "tighten",
    "write_atomic",
]

# Bits a state file or directory must not have: anything for group and others.
_LOOSE = 0o077


class UnsafeStatePath(WardenError):
    """A state directory or file that another user could replace or read."""


class DatabaseLocked(WardenError):
    """Another daemon holds the lock on this database."""


def _owner_ok(uid: int) -> bool:
    return uid in (0, os.geteuid())


def _check_one(path: Path, info: os.stat_result, group_ok: bool = False) -> None:
    if not stat.S_ISDIR(info.st_mode):
        raise UnsafeStatePath(f"{path}: not a directory")
    if not _owner_ok(info.st_uid):
        raise UnsafeStatePath(f"{path}: owned by uid {info.st_uid}, who could replace the "
                              "daemon's files there; use a directory owned by root")
    # group root is as trusted as root itself (Debian ships such directories)
    loose = stat.S_IWOTH | (stat.S_IWGRP if info.st_gid != 0 and not group_ok else 0)
    if info.st_mode & loose and not info.st_mode & stat.S_ISVTX:
        raise UnsafeStatePath(f"{path}: writable by group or others and not sticky, so they "
                              "could replace the daemon's files; chmod go-w it or use another "
                              "directory")


def check_dir(path: Path, *, group_ok: bool = False) -> None:
    """Make sure ``path`` is a safe directory for state files, creating it 0700 if missing.

    It and every directory above it must be owned by root or by us, and not be writable by
    group or others unless sticky (like ``/tmp``); ``group_ok`` accepts a group-writable one
    (Ubuntu's /var/log belongs to group syslog). Existing directories keep their mode.
    Raises :class:`UnsafeStatePath` naming the directory at fault.
    """
    path = Path(os.path.abspath(path))
    missing: list[Path] = []
    probe = path
    while True:
        try:
            os.lstat(probe)
        except FileNotFoundError:
            missing.append(probe)
            probe = probe.parent
            continue
        break
    # A directory is only as safe as its parents: check every one, both along the name as
    # written (whoever can write there could swap a symlink in it) and along the real path
    # (/var/run is a symlink to /run on many systems; what it resolves to matters too).
    real = Path(os.path.realpath(probe))
    for where in (real, probe):
        for directory in (*reversed(where.parents), where):
            _check_one(directory, os.stat(directory), group_ok)
    for directory in reversed(missing):
        try:
            os.mkdir(directory, 0o700)
        except FileExistsError:
            pass  # made meanwhile by someone allowed to write the parent: checked below
        except OSError as exc:
            raise UnsafeStatePath(f"{directory}: cannot create it ({exc.strerror})") from None
        _check_one(directory, os.lstat(directory), group_ok)


def write_atomic(path: Path, data: bytes) -> None:
    """Replace ``path`` with a 0600 file holding ``data``, never following a symlink.

    Raises OSError when the directory cannot be written.
    """
    fd, tmp = _create_beside(path)
    try:
        with os.fdopen(fd, "wb") as stream:
            stream.write(data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _create_beside(path: Path) -> tuple[int, Path]:
    # A random name, created exclusively: a planted file or symlink is never reused.
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    for _ in range(100):
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
        try:
            return os.open(tmp, flags, 0o600), tmp
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, "no free temporary name", os.fspath(path.parent))


def tighten(path: Path) -> None:
    """Make an existing state file of ours 0600 (files from older versions were 0644).

    A symlink is left alone (never followed); a missing file is fine. Raises
    :class:`UnsafeStatePath` for a file owned by another non-root user.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
    except (FileNotFoundError, NotADirectoryError):
        return
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # a symlink: not ours to change
            return
        raise
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            return
        if not _owner_ok(info.st_uid):
            raise UnsafeStatePath(f"{path}: owned by uid {info.st_uid}; remove it or give it "
                                  "to root")
        if info.st_mode & _LOOSE:
            os.fchmod(fd, stat.S_IMODE(info.st_mode) & ~_LOOSE)
    finally:
        os.close(fd)


class DatabaseLock:
    """The exclusive lock on a database, held until :meth:`release` or the process ends."""

    def __init__(self, database: str, path: Path, fd: int) -> None:
        self.database = database
        self.path = path
        self._fd: int | None = fd

    def note_pid(self) -> None:
        """Record our pid in the lock file (again after detaching: the pid changed)."""
        if self._fd is None:
            return
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, f"{os.getpid()}\n".encode(), 0)

    def release(self) -> None:
        """Drop the lock (the file stays: removing it would race with the next daemon)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def lock_database(database: str) -> DatabaseLock | None:
    """Lock ``database`` for this process; None for ``:memory:`` (nothing to share).

    Checks (and creates) the database's directory first. Raises :class:`DatabaseLocked`
    naming the other daemon's pid when another process holds it, :class:`UnsafeStatePath`
    for an unsafe directory, OSError when the lock file cannot be made.
    """
    if database == ":memory:":
        return None
    db = Path(os.path.abspath(database))
    check_dir(db.parent)
    lock_path = db.with_name(db.name + ".lock")
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or not _owner_ok(info.st_uid):
            raise UnsafeStatePath(f"{lock_path}: not a regular file of root's; remove it")
        if info.st_mode & _LOOSE:
            os.fchmod(fd, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            other = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            raise DatabaseLocked(f"warden already runs with database {database} (pid {other})"
                                 ) from None
    except BaseException:
        os.close(fd)
        raise
    lock = DatabaseLock(database, lock_path, fd)
    lock.note_pid()
    return lock
