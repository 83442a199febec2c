"""The messages between the daemon and its worker processes (:mod:`warden.daemon.workers`).

Each message is a 4-byte big-endian length, then a :mod:`marshal` dump of plain values
(``str``, ``int``, ``float``, ``bool``, ``None``, tuples, lists, dicts). Unlike a pickle,
marshal data cannot name a class or call anything: loading it only builds values. Every
message's shape is checked here before anything uses it, so a worker that answers garbage
(a bug, a crash half-way through a write, a process that is not ours) gives a
:class:`~warden.errors.ProtocolError`, which the daemon treats as that worker's failure.

In order, on a worker's standard input:

- the spec, once: what :meth:`Jail.scan <warden.core.jail.Jail.scan>` needs of the jail's
  :class:`~warden.core.spec.JailSpec` (its name, filter definitions, ``journal``,
  ``max_line_length`` and ``trustsuccess``; counting, banning and ignoring stay in the
  daemon);
- per batch ``(seq, lines, now)``.

On its standard output, per batch in the order they came: ``(seq, matched, ignored,
records)``, ``matched``/``ignored`` the lines its failure filters matched and ignored in
the batch (:meth:`Jail.line_counts <warden.core.jail.Jail.line_counts>`), each record
``(index, kind, fid, time, fields, matches, regex)``: what ``Jail.scan`` found, in order.

No I/O here: values in, bytes out, and back.
"""

from __future__ import annotations

import dataclasses
import marshal
import struct
from types import MappingProxyType
from typing import Any, NamedTuple

from warden.core.filter import Failure
from warden.core.filterdef import FilterDefinition
from warden.core.spec import JailSpec
from warden.errors import ProtocolError

__all__ = [
    "HEADER",
    "MAX_MESSAGE",
    "Answer",
    "Batch",
    "Found",
    "Plain",
    "decode_answer",
    "decode_batch",
    "decode_spec",
    "encode_answer",
    "encode_batch",
    "encode_spec",
    "message_size",
]

#: the length before each message
HEADER = struct.Struct("!I")
#: longest message read: an answer for one read block (``app._BLOCK``, 128 KiB of lines)
#: holds its failures' lines at most ``maxlines`` times over, far below this
MAX_MESSAGE = 64 << 20
# marshal's own format version (both ends are the same interpreter)
_VERSION = marshal.version

#: what a message is built of (lists and dicts are checked item by item on the way in)
Plain = str | int | float | bool | None | tuple["Plain", ...] | list[Any] | dict[str, Any]
#: what a worker found in a batch: (line index, kind 0 failure / 1 success, the failure)
Found = list[tuple[int, int, Failure]]

# the FilterDefinition fields a worker needs: every one but where they were defined
_DEFINITION = tuple(f.name for f in dataclasses.fields(FilterDefinition) if f.name != "origins")
# nesting allowed in a failure's field value (a session's users: a tuple of strings)
_DEPTH = 4


class Batch(NamedTuple):
    """One batch of lines for a worker: its number, the lines, the time to scan them at."""

    seq: int
    lines: list[str]
    now: float


class Answer(NamedTuple):
    """A worker's answer for batch ``seq``: what it found and the lines it matched and
    ignored (counted in the worker, added to the daemon's jail)."""

    seq: int
    found: Found
    matched: int
    ignored: int


def _frame(value: Plain) -> bytes:
    data = marshal.dumps(value, _VERSION)
    return HEADER.pack(len(data)) + data


def message_size(header: bytes) -> int:
    """The length a message header announces; ProtocolError if it is beyond
    :data:`MAX_MESSAGE`."""
    (size,) = HEADER.unpack(header)
    if size > MAX_MESSAGE:
        raise ProtocolError(f"refused: a message of {size} bytes (at most {MAX_MESSAGE})")
    return int(size)


def _load(data: bytes) -> object:
    try:
        value: object = marshal.loads(data)
    except Exception as exc:  # truncated or garbled: EOFError, ValueError, TypeError
        raise ProtocolError(f"malformed message: {exc}") from None
    return value


def _bad(what: str) -> ProtocolError:
    return ProtocolError(f"malformed message: {what}")


def _plain(value: object, depth: int = 0) -> bool:
    """Whether ``value`` is a value a filter's capture can hold: text, a number, None, or a
    short tuple of them."""
    kind = type(value)
    if kind is str or value is None or kind is int or kind is float or kind is bool:
        return True
    if kind is tuple and depth < _DEPTH:
        assert isinstance(value, tuple)
        return all(_plain(item, depth + 1) for item in value)
    return False


# -- the spec --------------------------------------------------------------------------------
def encode_spec(spec: JailSpec) -> bytes:
    """The spec message of a worker scanning for ``spec``'s jail."""
    filters = [tuple(getattr(d, name) for name in _DEFINITION) for d in spec.filters]
    return _frame((spec.name, filters, spec.journal, spec.max_line_length, spec.trustsuccess))


def decode_spec(data: bytes) -> JailSpec:
    """The :class:`JailSpec` a worker builds its jail from (options it does not use keep
    their defaults); ProtocolError if ``data`` is not a spec message."""
    value = _load(data)
    if type(value) is not tuple or len(value) != 5:
        raise _bad("not a jail spec")
    name, filters, journal, max_line_length, trustsuccess = value
    if (type(name) is not str or type(filters) is not list or type(journal) is not bool
            or type(max_line_length) is not int
            or not (trustsuccess is None or type(trustsuccess) in (int, float))):
        raise _bad("not a jail spec")
    definitions: list[FilterDefinition] = []
    for item in filters:
        if type(item) is not tuple or len(item) != len(_DEFINITION) \
                or not all(_plain(v) for v in item):
            raise _bad("not a filter definition")
        options: dict[str, Any] = dict(zip(_DEFINITION, item, strict=True))
        definitions.append(FilterDefinition(**options))
    return JailSpec(name, tuple(definitions), journal=journal,
                    max_line_length=max_line_length, trustsuccess=trustsuccess)


# -- batches ---------------------------------------------------------------------------------
def encode_batch(seq: int, lines: list[str], now: float) -> bytes:
    """The message of batch ``seq``: ``lines`` to scan at ``now``."""
    return _frame((seq, lines, now))


def decode_batch(data: bytes) -> Batch:
    """A batch message; ProtocolError if ``data`` is none."""
    value = _load(data)
    if type(value) is not tuple or len(value) != 3:
        raise _bad("not a batch")
    seq, lines, now = value
    if type(seq) is not int or type(lines) is not list or type(now) not in (int, float) \
            or not all(type(line) is str for line in lines):
        raise _bad("not a batch")
    return Batch(seq, lines, float(now))


# -- answers ---------------------------------------------------------------------------------
def encode_answer(seq: int, found: Found, matched: int, ignored: int) -> bytes:
    """The answer to batch ``seq``: ``found`` by ``Jail.scan``, and the lines counted."""
    return _frame((seq, matched, ignored,
                   [(i, kind, f.fid, f.time, dict(f.fields), f.matches, f.regex)
                    for i, kind, f in found]))


def decode_answer(data: bytes, seq: int, lines: int) -> Answer:
    """The answer to batch ``seq`` of ``lines`` lines. ProtocolError unless ``data`` is
    exactly that: an answer to another batch, a count that is no count, a record of another
    shape or type, a line index outside the batch or out of order."""
    value = _load(data)
    if type(value) is not tuple or len(value) != 4:
        raise _bad("not an answer")
    got, matched, ignored, records = value
    if got != seq or type(got) is not int:
        raise _bad(f"the answer to batch {got!r} where batch {seq} was next")
    if type(matched) is not int or type(ignored) is not int or matched < 0 or ignored < 0 \
            or type(records) is not list:
        raise _bad("not an answer")
    found: Found = []
    append = found.append
    last = 0
    for record in records:
        if type(record) is not tuple or len(record) != 7:
            raise _bad("not a failure record")
        index, kind, fid, time, fields, matches, regex = record
        if (type(index) is not int or not last <= index < lines
                or type(kind) is not int or kind not in (0, 1)
                or type(fid) is not str or type(fields) is not dict
                or type(matches) is not tuple or type(regex) is not int
                or not (time is None or type(time) is float or type(time) is int)):
            raise _bad(f"a failure record of another shape: {record!r:.200}")
        for key, item in fields.items():
            if type(key) is not str or (type(item) is not str and not _plain(item)):
                raise _bad(f"a failure record of another shape: {record!r:.200}")
        for line in matches:
            if type(line) is not str:
                raise _bad(f"a failure record of another shape: {record!r:.200}")
        last = index
        append((index, kind, Failure(fid, time, MappingProxyType(fields), matches, regex)))
    return Answer(seq, found, matched, ignored)
