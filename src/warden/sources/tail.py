"""Reading one log file as it grows, across truncation and rotation (synchronous, no waiting).

A :class:`FileTail` holds the file open and, each time it is checked, reads what was appended
since, hands out the complete lines and remembers the offset after them. It notices when the
file is truncated (copytruncate) or replaced (its first bytes changed), and when the path now
names another file (rename-and-create, delete-and-recreate): then the rest of the old file is
read first, the old descriptor is kept in case its writer has not reopened yet (until it has
been quiet for a grace period), and the new file is read from its start. Problems with the file
(missing, a directory, unreadable) become the tail's state, never an exception.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
from dataclasses import dataclass

from warden.sources.base import FilePosition, LogBatch, SourceState, SourceStatus
from warden.sources.lines import DEFAULT_MAX_LINE, LineSplitter
from warden.sources.seek import DateOf, find_since

__all__ = ["HEAD_BYTES", "FileTail", "Start"]

HEAD_BYTES = 1024  # the fingerprint covers this much of the file's start
BLOCK = 1 << 20


@dataclass(frozen=True, slots=True)
class Start:
    """Where to begin a file seen for the first time at start-up (no usable stored position).

    ``mode`` is ``head`` or ``tail`` (the ``logpath`` option); with ``head``, ``since`` and
    ``date_of`` given, reading begins at the first line dated ``since`` or later.
    """

    mode: str = "head"
    since: float | None = None
    date_of: DateOf | None = None


class _Reader:
    """An open descriptor, the offset read so far and the partial line it holds."""

    __slots__ = ("base", "dev", "fd", "ino", "pos", "splitter")

    def __init__(self, fd: int, st: os.stat_result, splitter: LineSplitter) -> None:
        self.fd = fd
        self.dev = st.st_dev
        self.ino = st.st_ino
        self.base = 0  # file offset where the splitter started
        self.pos = 0  # file offset read up to
        self.splitter = splitter

    @property
    def offset(self) -> int:
        """Offset just after the last complete line handed out."""
        return self.base + self.splitter.consumed

    def seek(self, offset: int) -> None:
        self.splitter.reset()
        self.base = self.pos = offset


class FileTail:
    """The reader of one log path."""

    def __init__(self, path: str, *, encoding: str = "utf-8", max_line: int = DEFAULT_MAX_LINE,
                 block: int = BLOCK) -> None:
        self.path = path
        self.encoding = encoding
        self.max_line = max_line
        self.block = block
        self.state = SourceState.MISSING
        self.error: str | None = None
        self._cur: _Reader | None = None
        self._head = b""
        self._digest = hashlib.blake2b(b"", digest_size=16).hexdigest()
        self._old: list[tuple[_Reader, float]] = []  # rotated-away files and their deadlines
        self._last: FilePosition | None = None
        #: How many times a file was opened under this path (a new one after each rotation).
        self.opened = 0

    # -- state ------------------------------------------------------------------------------
    @property
    def fd(self) -> int | None:
        """The descriptor of the file read now (``None`` when it is missing or unreadable)."""
        return None if self._cur is None else self._cur.fd

    @property
    def retired(self) -> int:
        """How many rotated-away files are still being drained."""
        return len(self._old)

    def position(self) -> FilePosition | None:
        """Where reading stopped in the current file."""
        cur = self._cur
        if cur is None:
            return self._last
        return FilePosition(self.path, cur.offset, cur.dev, cur.ino, self._digest,
                            len(self._head))

    def status(self) -> SourceStatus:
        """This file's line in ``status``."""
        return SourceStatus(self.path, self.state, self.position(), 0, self.error)

    def next_deadline(self) -> float | None:
        """When the oldest rotated-away file stops being drained."""
        return min((d for _, d in self._old), default=None)

    # -- opening ----------------------------------------------------------------------------
    def open(self, *, resume: FilePosition | None = None, start: Start | None = None) -> bool:
        """Open the file; ``resume``/``start`` apply to a file met at start-up.

        Without them the file is read from its beginning (a file created while running).
        Returns whether the file is open now.
        """
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError as exc:
            self._fail(exc)
            return False
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                what = "a directory" if stat.S_ISDIR(st.st_mode) else "not a regular file"
                raise OSError(errno.EISDIR if stat.S_ISDIR(st.st_mode) else errno.EINVAL,
                              f"is {what}")
            reader = _Reader(fd, st, LineSplitter(encoding=self.encoding,
                                                  max_line=self.max_line))
            self._head = os.pread(fd, HEAD_BYTES, 0)
            self._digest = _digest(self._head)
            reader.seek(self._first_offset(fd, st, resume, start))
        except OSError as exc:
            os.close(fd)
            self._fail(exc)
            return False
        self._cur = reader
        self.opened += 1
        self.state = SourceState.OK
        self.error = None
        return True

    def _first_offset(self, fd: int, st: os.stat_result, resume: FilePosition | None,
                      start: Start | None) -> int:
        if resume is not None and resume.offset <= st.st_size:
            same_head = (resume.head_len <= len(self._head)
                         and _digest(self._head[:resume.head_len]) == resume.head)
            if same_head and (resume.head_len > 0 or
                              (resume.dev, resume.ino) == (st.st_dev, st.st_ino)):
                return _line_start(fd, resume.offset)
        if resume is not None or start is None:
            return 0  # another file than the one remembered: all of it is new
        if start.mode == "tail":
            return _last_line_end(fd, st.st_size)
        if start.since is not None and start.date_of is not None:
            return find_since(fd, start.since, start.date_of, size=st.st_size,
                              encoding=self.encoding)
        return 0

    def _fail(self, exc: OSError) -> None:
        if exc.errno == errno.ENOENT:
            self.state, self.error = SourceState.MISSING, None
        else:
            self.state = SourceState.ERROR
            self.error = f"{self.path}: {exc.strerror or exc}"

    def close(self) -> None:
        """Close every descriptor (the current file and rotated ones); safe to call twice."""
        if self._cur is not None:
            self._last = self.position()
            os.close(self._cur.fd)
            self._cur = None
        for reader, _ in self._old:
            os.close(reader.fd)
        self._old.clear()

    # -- reading ----------------------------------------------------------------------------
    def check(self, *, now: float, follow: bool, grace: float = 5.0) -> tuple[list[LogBatch], bool]:
        """Read what is new; with ``follow``, also look whether the path names another file.

        Returns the batches and whether more data is waiting (the block limit was reached).
        ``now`` is the event loop's monotonic time, for the grace of rotated files.
        """
        out: list[LogBatch] = []
        kept: list[tuple[_Reader, float]] = []
        for reader, deadline in self._old:
            try:
                if self._drain(reader, out):
                    deadline = now + grace  # its writer still writes there: keep reading it
            except OSError:
                deadline = now  # a rotated file that cannot be read any more: let it go
            if now < deadline:
                kept.append((reader, deadline))
                continue
            last = reader.splitter.flush()  # quiet for the whole grace: it is finished
            if last:
                out.append(LogBatch(self.path, last, None))
            os.close(reader.fd)
        self._old = kept
        if self._cur is None and (not follow or not self.open()):
            return out, False
        assert self._cur is not None
        more = False
        try:
            more = self._read(self._cur, out)
            if follow:
                self._follow(out, now + grace)
        except OSError as exc:
            self._drop_current()
            self._fail(exc)
        return out, more

    def _follow(self, out: list[LogBatch], deadline: float) -> None:
        cur = self._cur
        assert cur is not None
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            st = None
        if st is not None and (st.st_dev, st.st_ino) == (cur.dev, cur.ino):
            return
        # the path names another file now, or none: finish the old one, then switch
        self._drain(cur, out)
        self._old.append((cur, deadline))
        self._last = self.position()
        self._cur = None
        self._head = b""
        if st is None:
            self.state, self.error = SourceState.MISSING, None
        elif self.open():
            fresh = self._cur
            if fresh is not None:
                self._read(fresh, out)

    def _drop_current(self) -> None:
        if self._cur is not None:
            self._last = self.position()
            os.close(self._cur.fd)
            self._cur = None

    def _read(self, reader: _Reader, out: list[LogBatch]) -> bool:
        fd = reader.fd
        st = os.fstat(fd)
        same = self._same_head(fd)  # always: it also learns the new head after a truncation
        if st.st_size < reader.pos or not same:
            reader.seek(0)  # truncated in place (copytruncate) or rewritten from the start
        if st.st_size <= reader.pos:
            return False
        data = os.pread(fd, self.block, reader.pos)
        reader.pos += len(data)
        lines = reader.splitter.feed(data)
        if lines:
            out.append(LogBatch(self.path, lines, self.position()))
        return len(data) == self.block and reader.pos < st.st_size

    def _same_head(self, fd: int) -> bool:
        """Whether the file still starts as it did (it only grew while shorter than a head)."""
        head = self._head
        now = os.pread(fd, HEAD_BYTES, 0)
        if now == head:
            return True
        same = len(head) < HEAD_BYTES and now.startswith(head)
        self._head = now
        self._digest = _digest(now)
        return same

    def _drain(self, reader: _Reader, out: list[LogBatch]) -> bool:
        """Read a rotated-away file to its end; whether it had grown."""
        lines: list[str] = []
        grew = False
        while True:
            data = os.pread(reader.fd, self.block, reader.pos)
            if not data:
                break
            grew = True
            reader.pos += len(data)
            lines.extend(reader.splitter.feed(data))
        if lines:
            # the position belongs to a file the path no longer names: none to store
            out.append(LogBatch(self.path, lines, None))
        return grew


def _digest(head: bytes) -> str:
    return hashlib.blake2b(head, digest_size=16).hexdigest()


def _line_start(fd: int, offset: int) -> int:
    """``offset`` moved forward to the start of a line (a stored offset always is one)."""
    if offset == 0:
        return 0
    data = os.pread(fd, 1, offset - 1)
    if data == b"\n":
        return offset
    rest = os.pread(fd, 65536, offset)
    nl = rest.find(b"\n")
    return offset + nl + 1 if nl >= 0 else offset + len(rest)


def _last_line_end(fd: int, size: int) -> int:
    """The offset after the last newline (an unfinished last line is read once finished)."""
    low = max(0, size - 65536)
    data = os.pread(fd, size - low, low)
    nl = data.rfind(b"\n")
    return low + nl + 1 if nl >= 0 else size
