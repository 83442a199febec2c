"""fail2ban's wire format, read safely: pickles of plain values only, framed by a marker.

fail2ban's client sends a pickled list of strings followed by ``<F2B_END_COMMAND>``, and
``<F2B_CLOSE_COMMAND><F2B_END_COMMAND>`` before it hangs up; the server answers each command
with a pickled ``(code, result)`` (0: done, 1: failed, the result then an exception) and the
same marker. A pickle is a program for a small stack machine that can import and call
anything, so :func:`load_command` runs only the opcodes that build ``str``, ``bytes``,
``int``, ``float``, ``bool``, ``None``, ``list``, ``tuple`` and ``dict``: every other opcode
(globals, calls, object building, extensions, persistent ids, sets, buffers) is refused before
anything is unpickled, and the unpickler's ``find_class`` refuses too, in case an opcode slipped
through. The message is bounded in bytes, in values and in nesting depth.

No I/O here: bytes in, values (or :class:`~warden.errors.ProtocolError`) out.
"""

from __future__ import annotations

import io
import pickle
import pickletools
from typing import NoReturn

from warden.errors import ProtocolError

__all__ = [
    "CLOSE",
    "END",
    "MAX_DEPTH",
    "MAX_MESSAGE",
    "MAX_VALUES",
    "Plain",
    "dump_error",
    "dump_reply",
    "load_command",
]

END = b"<F2B_END_COMMAND>"
CLOSE = b"<F2B_CLOSE_COMMAND>"
#: longest message accepted (fail2ban's own commands are a few hundred bytes)
MAX_MESSAGE = 1024 * 1024
#: most values one message may build, counting a value each time it is reached
MAX_VALUES = 100_000
#: deepest nesting of containers
MAX_DEPTH = 32

#: what a command may hold
Plain = str | bytes | int | float | bool | None | list["Plain"] | tuple["Plain", ...] \
    | dict["Plain", "Plain"]

# The opcodes that push plain values, build lists, tuples and dicts, or move values between
# the stack and the memo. Nothing here imports, calls or builds an object of another type.
_ALLOWED = frozenset({
    "PROTO", "FRAME", "STOP", "MARK", "POP", "POP_MARK", "DUP",
    "PUT", "BINPUT", "LONG_BINPUT", "MEMOIZE", "GET", "BINGET", "LONG_BINGET",
    "NONE", "NEWTRUE", "NEWFALSE",
    "INT", "BININT", "BININT1", "BININT2", "LONG", "LONG1", "LONG4", "FLOAT", "BINFLOAT",
    "STRING", "BINSTRING", "SHORT_BINSTRING",
    "UNICODE", "SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8",
    "SHORT_BINBYTES", "BINBYTES", "BINBYTES8",
    "EMPTY_LIST", "APPEND", "APPENDS", "LIST",
    "EMPTY_TUPLE", "TUPLE", "TUPLE1", "TUPLE2", "TUPLE3",
    "EMPTY_DICT", "DICT", "SETITEM", "SETITEMS",
})


class _PlainUnpickler(pickle.Unpickler):
    """An unpickler that can name no class or function at all."""

    def find_class(self, module: str, name: str) -> NoReturn:
        raise pickle.UnpicklingError(f"refused: the message names {module}.{name}")

    def persistent_load(self, pid: object) -> NoReturn:
        raise pickle.UnpicklingError("refused: the message uses a persistent id")


def _check_opcodes(data: bytes) -> None:
    """Refuse ``data`` unless every opcode up to STOP is one of :data:`_ALLOWED`."""
    try:
        for opcode, _, pos in pickletools.genops(data):
            if opcode.name not in _ALLOWED:
                raise ProtocolError(f"refused: opcode {opcode.name} at byte {pos} builds "
                                    "something other than plain values")
    except ProtocolError:
        raise
    except Exception as exc:  # genops reports a truncated or garbled pickle in many ways
        raise ProtocolError(f"malformed message: {exc}") from None


def _check_shape(value: object) -> None:
    """Refuse a value nested deeper than :data:`MAX_DEPTH` or reaching more than
    :data:`MAX_VALUES` values; a value shared through the memo counts each time it is met
    (so a self-containing list or a doubling chain is refused, never walked for long)."""
    stack: list[tuple[object, int]] = [(value, 0)]
    seen = 0
    while stack:
        item, depth = stack.pop()
        seen += 1
        if seen > MAX_VALUES:
            raise ProtocolError(f"refused: the message holds more than {MAX_VALUES} values")
        if isinstance(item, (list, tuple, dict)):
            if depth >= MAX_DEPTH:
                raise ProtocolError(f"refused: the message nests deeper than {MAX_DEPTH}")
            children = [*item.keys(), *item.values()] if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
        elif not isinstance(item, (str, bytes, int, float, type(None))):
            raise ProtocolError(f"refused: the message holds a {type(item).__name__}")


def load_command(data: bytes) -> Plain:
    """The value pickled in ``data`` (one message, its end marker removed).

    Raises :class:`ProtocolError` for a message that is too long, is not a pickle, or would
    build anything but plain values; nothing of such a message is run.
    """
    if len(data) > MAX_MESSAGE:
        raise ProtocolError(f"refused: message longer than {MAX_MESSAGE} bytes")
    _check_opcodes(data)
    try:
        value: Plain = _PlainUnpickler(io.BytesIO(data)).load()
    except pickle.UnpicklingError as exc:
        raise ProtocolError(str(exc)) from None
    except Exception as exc:  # a list as a dict key, a bad memo index, an int too long...
        raise ProtocolError(f"malformed message: {exc}") from None
    _check_shape(value)
    return value


def dump_reply(result: Plain) -> bytes:
    """A successful answer in fail2ban's format, end marker included."""
    return pickle.dumps((0, result), protocol=4) + END


#: where fail2ban keeps the exceptions its client prints in its own words
_EXCEPTIONS = {"unknown-jail": ("fail2ban.server.jails", "UnknownJailException"),
               "invalid": ("builtins", "IndexError"),
               "failed": ("builtins", "Exception")}


def dump_error(message: str, kind: str = "failed") -> bytes:
    """A failed answer: ``(1, exception)`` as fail2ban's client expects it (it prints the
    exception's ``args``, and words of its own for an unknown jail or an invalid command).

    The exception is named by module and class in the pickle; the client's unpickler builds
    it, nothing on this side imports or constructs it. ``kind``: ``unknown-jail`` (``message``
    is the jail's name), ``invalid`` or ``failed``.
    """
    module, name = _EXCEPTIONS[kind]
    args = pickle.dumps((message,), protocol=2)[2:-1]  # the tuple's opcodes: no PROTO, STOP
    exception = b"c" + module.encode() + b"\n" + name.encode() + b"\n" + args + b"R"
    return b"\x80\x02" + b"K\x01" + exception + b"\x86" + b"." + END
