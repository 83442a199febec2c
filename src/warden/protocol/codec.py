"""JSON-lines codec of the control messages, with a version field. No pickle, no eval.

A message is one line: a JSON object with ``"v"`` (the protocol version), ``"kind"`` (the
message class) and the message's fields. Decoding checks every field against the class's type
annotations, so a decoded message is exactly as well-typed as one built in Python.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from collections.abc import Mapping
from functools import cache
from typing import Any, TypeVar

from warden.errors import ProtocolError
from warden.protocol.events import EVENT_TYPES, Event
from warden.protocol.messages import REQUEST_TYPES, RESPONSE_TYPES, Request, Response

__all__ = [
    "MAX_LINE",
    "MAX_REQUEST",
    "PROTOCOL_VERSION",
    "decode_event",
    "decode_request",
    "decode_response",
    "encode",
]

PROTOCOL_VERSION = 1
#: the longest line either side accepts (a status of 100,000 IPv6 bans fits)
MAX_LINE = 64 * 1024 * 1024
#: the longest request the daemon reads: a whole command line of addresses fits (Linux's
#: ARG_MAX is 2 MiB and JSON quoting at most doubles it). A connection buffers at most twice
#: this before asyncio stops reading it: 512 MiB for 64 connections in the very worst case.
MAX_REQUEST = 4 * 1024 * 1024

_T = TypeVar("_T")


def _plain(value: object) -> object:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, tuple):
        return [_plain(item) for item in value]
    return value


def encode(message: Request | Response | Event) -> bytes:
    """One JSON line (with the trailing newline) for ``message``."""
    body = _plain(message)
    assert isinstance(body, dict)
    return json.dumps({"v": PROTOCOL_VERSION, "kind": message.kind, **body},
                      separators=(",", ":")).encode() + b"\n"


@cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _convert(value: object, hint: Any, where: str) -> object:
    origin = typing.get_origin(hint)
    if origin in (types.UnionType, typing.Union):
        for option in typing.get_args(hint):
            try:
                return _convert(value, option, where)
            except ProtocolError:
                continue
        raise ProtocolError(f"{where}: unexpected value {value!r}")
    if origin is tuple:
        item_hint = typing.get_args(hint)[0]
        if not isinstance(value, list):
            raise ProtocolError(f"{where}: expected a list, got {value!r}")
        return tuple(_convert(item, item_hint, f"{where}[{i}]") for i, item in enumerate(value))
    if hint is type(None):
        if value is None:
            return None
    elif hint is bool:
        if isinstance(value, bool):
            return value
    elif hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif hint is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    elif hint is str:
        if isinstance(value, str):
            return value
    elif isinstance(hint, type) and dataclasses.is_dataclass(hint):
        if isinstance(value, dict):
            return _build(hint, value, where)
    else:  # pragma: no cover - a message class with an unsupported annotation
        raise TypeError(f"unsupported annotation {hint!r}")
    raise ProtocolError(f"{where}: unexpected value {value!r}")


def _build(cls: type[_T], data: Mapping[str, object], where: str) -> _T:
    hints = _hints(cls)  # type: ignore[arg-type]  # classes are hashable
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = set(data) - names
    if unknown:
        raise ProtocolError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
    values = {name: _convert(data[name], hints[name], f"{where}.{name}") for name in data}
    try:
        return cls(**values)
    except TypeError as exc:  # a required field is missing
        raise ProtocolError(f"{where}: {exc}") from None


def _decode(line: bytes | str, classes: tuple[type[_T], ...]) -> _T:
    try:
        data = json.loads(line)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ProtocolError(f"malformed message: {exc}") from None
    except RecursionError:
        # json recurses once per nesting level; no message is nested more than a few levels,
        # and the interpreter's recursion limit stops the parser long before the C stack ends
        raise ProtocolError("malformed message: nested too deeply") from None
    if not isinstance(data, dict):
        raise ProtocolError("malformed message: not a JSON object")
    version = data.pop("v", None)
    if version != PROTOCOL_VERSION:
        raise ProtocolError(
            f"protocol version {version!r} not supported (this side speaks {PROTOCOL_VERSION}); "
            "client and daemon must be the same warden version")
    kind = data.pop("kind", None)
    for cls in classes:
        if getattr(cls, "kind", None) == kind:
            return _build(cls, data, str(kind))
    raise ProtocolError(f"unknown message kind {kind!r}")


def decode_request(line: bytes | str) -> Request:
    """The request encoded in ``line``; :class:`ProtocolError` if it is not a valid one."""
    return _decode(line, REQUEST_TYPES)


def decode_response(line: bytes | str) -> Response:
    """The response encoded in ``line``; :class:`ProtocolError` if it is not a valid one."""
    return _decode(line, RESPONSE_TYPES)


def decode_event(line: bytes | str) -> Event:
    """The event encoded in ``line`` (:mod:`warden.protocol.events`); :class:`ProtocolError`
    if it is not a valid one."""
    return _decode(line, EVENT_TYPES)
