"""``warden regex -o KIND``: one line per failure, in the forms of ``fail2ban-regex -o``.

Scripts read these lines, so they are fail2ban-regex 1.0.2's, character for character:

- ``id`` / ``fid``: the failure id (the address, or the ``<F-ID>``);
- ``ip``: the ``ip`` capture if the filter has one, else the failure id;
- ``msg``: each log line of the failure;
- ``row``: ``[ID,<TAB>TIME,<TAB>{captures}],`` with Python's literal forms (the capture
  ``users`` is a set there);
- a word without ``<``: that capture's value (``user``, ``ip4``, ``None`` when absent);
- a text with ``<tags>``: the text with ``<ip>``, ``<fid>``, ``<time>``, ``<family>``,
  ``<matches>``, ``<msg>``, ``<br>``, ``<sp>`` and ``<F-NAME>`` (a capture; empty when absent)
  filled in, once, never recursively; other tags stay as written. A ``<msg>`` of a failure
  with several lines gives one output line per log line.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from warden.core.addr import parse_network
from warden.core.matcher import Failure

__all__ = ["OUT_KINDS", "format_failure", "uses_matches"]

#: the kinds of ``-o`` that are not a capture name or a template
OUT_KINDS = ("id", "fid", "ip", "msg", "row")

_TAG = re.compile(r"<([^ <>]+)>")
_CAPTURE_TAG = re.compile(r"<F-([A-Z0-9_\-]+)>")
_PLACEHOLDER = "\x00msg\x00"
# capture tags whose option name differs (fail2ban's <F-ID> is the capture fid)
_RENAMED = {"id": "fid", "port": "fport"}


def _literal_fields(fields: Mapping[str, object]) -> dict[str, object]:
    """The captures as fail2ban holds them (``users`` a set, the order of capture)."""
    out: dict[str, object] = {}
    for key, value in fields.items():
        if key == "matches":
            continue
        out[key] = set(value) if key == "users" and isinstance(value, tuple | list) else value
    return out


def _text(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def _family(fid: str) -> str:
    network = parse_network(fid)
    if network is None:
        return ""
    return "inet6" if ":" in fid else "inet4"


def _fill(template: str, failure: Failure, msg: str) -> str:
    fixed = {
        "ip": failure.fid,
        "fid": failure.fid,
        "time": _text(failure.time),
        "family": _family(failure.fid),
        "matches": "\n".join(failure.matches),
        "msg": msg,
        "br": "\n",
        "sp": " ",
    }

    def tag(match: re.Match[str]) -> str:
        name = match.group(1)
        return fixed.get(name, match.group(0))

    text = _TAG.sub(lambda m: m.group(0) if m.group(1).startswith("F-") else tag(m), template)

    def capture(match: re.Match[str]) -> str:
        name = match.group(1).lower()
        value = failure.fields.get(_RENAMED.get(name, name))
        return "" if value is None else _text(value).replace("\x00", "\\x00")

    return _CAPTURE_TAG.sub(capture, text)


def uses_matches(kind: str) -> bool:
    """True when ``-o kind`` prints the failure's log lines (``msg``, ``<matches>``, ``<msg>``)."""
    return kind == "msg" or "<matches>" in kind or "<msg>" in kind


def format_failure(kind: str, failure: Failure) -> list[str]:
    """The output lines of one failure for ``-o kind``."""
    if kind in ("id", "fid"):
        return [failure.fid]
    if kind == "ip":
        return [_text(failure.fields.get("ip", failure.fid))]
    if kind == "msg":
        return list(failure.matches)
    if kind == "row":
        return ["[%r,\t%r,\t%r]," % (failure.fid, failure.time,  # noqa: UP031 - Python's reprs
                                     _literal_fields(failure.fields))]
    if "<" not in kind:
        return [_text(failure.fields.get(kind))]
    if "<msg>" in kind and len(failure.matches) > 1:
        # one line per log line of the failure, as fail2ban-regex wraps a multi-line <msg>
        return [_fill(kind.replace("<msg>", _PLACEHOLDER), failure, "").replace(
            _PLACEHOLDER, line) for line in failure.matches]
    return [_fill(kind, failure, "\n".join(failure.matches))]
