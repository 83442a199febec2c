"""Turning run-time ``<tag>`` references of a shell action into variable references.

fail2ban splices values such as ``<matches>`` or ``<F-USER>`` into the text of a ``sh -c``
script, so a crafted log line can inject commands. warden passes every run-time value as an
environment variable and replaces the tag with a reference to it, quoted for the place it
appears in::

    unquoted, in `…` or $(…)   <ip>  →  "${WARDEN_IP}"
    inside "…"                 <ip>  →  ${WARDEN_IP}
    inside '…'                 <ip>  →  '"${WARDEN_IP}"'   (close, expand, reopen)
    here-document body         <ip>  →  ${WARDEN_IP}

A variable's value is never parsed as shell text, whatever it contains. The scanner knows the
quoting rules that decide where the shell would have re-read a spliced value (quotes,
backslashes, backquotes, ``$(…)``, here-documents); it does not need to understand the rest.
"""

from __future__ import annotations

import re
from collections.abc import Callable

__all__ = ["splice_variables", "variable_name"]

_TAG = re.compile(r"<([^ <>\n]+)>")
_HEREDOC = re.compile(r"<<(-?)[ \t]*(?:'([^'\n]*)'|\"([^\"\n]*)\"|\\?([A-Za-z0-9_]+))")


def variable_name(tag: str) -> str:
    """The environment variable carrying ``tag`` (``F-USER`` → ``WARDEN_F_USER``)."""
    return "WARDEN_" + re.sub(r"[^A-Za-z0-9]", "_", tag).upper()


def _reference(tag: str, context: str) -> str:
    var = "${" + variable_name(tag) + "}"
    if context in ("d", "h"):
        return var
    if context == "s":
        return "'\"" + var + "\"'"
    return '"' + var + '"'


def splice_variables(script: str, is_runtime: Callable[[str], bool]) -> tuple[str, set[str]]:
    """Replace run-time tags of ``script`` by quoted variable references.

    ``is_runtime(tag)`` says which tags carry run-time values. Returns the new script and the
    tags it refers to (the caller exports their values as :func:`variable_name` variables).
    """
    out: list[str] = []
    used: set[str] = set()
    # u: unquoted, d: "…", s: '…', b: `…`, c: $(…), h/H: here-document body (H: quoted word)
    stack: list[str] = ["u"]
    parens: list[int] = []  # open parentheses inside each $( context
    words: list[str] = []  # delimiter of each open here-document
    pending: list[tuple[str, bool]] = []  # here-documents starting after the current line
    i, n = 0, len(script)
    while i < n:
        top = stack[-1]
        if top in "hH":
            end = script.find("\n", i)
            end = n if end < 0 else end + 1
            line = script[i:end]
            if line.rstrip("\n").lstrip("\t") == words[-1]:
                stack.pop()
                words.pop()
                out.append(line)
            elif top == "H":  # <<'EOF': no expansion at all, tags stay text
                out.append(line)
            else:
                out.append(_TAG.sub(lambda m: _spliced(m, "h", is_runtime, used), line))
            i = end
            continue
        ch = script[i]
        if ch == "<":
            tag = _TAG.match(script, i)
            if tag and is_runtime(tag.group(1)):
                out.append(_reference(tag.group(1), top))
                used.add(tag.group(1))
                i = tag.end()
                continue
            heredoc = _HEREDOC.match(script, i) if top in "ubc" else None
            if heredoc:
                word = heredoc.group(2) or heredoc.group(3) or heredoc.group(4) or ""
                quoted = heredoc.group(4) is None or "\\" in heredoc.group(0)
                pending.append((word, quoted))
                out.append(heredoc.group(0))
                i = heredoc.end()
                continue
        if ch == "\n" and pending and top in "ubc":
            out.append(ch)
            i += 1
            for word, quoted in reversed(pending):
                stack.append("H" if quoted else "h")
                words.append(word)
            pending.clear()
            continue
        if ch == "\\" and top != "s":
            out.append(script[i : i + 2])
            i += 2
            continue
        if script.startswith("$(", i) and top in "ubcd":
            stack.append("c")
            parens.append(0)
            out.append("$(")
            i += 2
            continue
        if top == "s":
            if ch == "'":
                stack.pop()
        elif top == "d":
            if ch == '"':
                stack.pop()
            elif ch == "`":
                stack.append("b")
        elif ch == "'":
            stack.append("s")
        elif ch == '"':
            stack.append("d")
        elif ch == "`":
            if top == "b":
                stack.pop()
            else:
                stack.append("b")
        elif top == "c" and ch == "(":
            parens[-1] += 1
        elif top == "c" and ch == ")":
            if parens[-1] == 0:
                stack.pop()
                parens.pop()
            else:
                parens[-1] -= 1
        out.append(ch)
        i += 1
    return "".join(out), used


def _spliced(
    match: re.Match[str], context: str, is_runtime: Callable[[str], bool], used: set[str]
) -> str:
    if not is_runtime(match.group(1)):
        return match.group(0)
    used.add(match.group(1))
    return _reference(match.group(1), context)
