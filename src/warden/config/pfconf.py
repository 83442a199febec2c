"""Does the host's pf.conf evaluate the anchors that hold the jails' pf rules?

warden's native pf backend loads each jail's table and block rule into an anchor
(``warden/<jail>``, with fail2ban's tree ``f2b/<jail>``). pf evaluates an anchor only when the
main ruleset names it, so without a line such as ``anchor "warden/*"`` in ``/etc/pf.conf`` every
ban is recorded and loaded but blocks nothing. ``warden check`` warns about that.

The parsing is pure (text in, anchor paths out): :func:`evaluated_anchors` reads pf.conf(5)
text (comments, ``\\`` continuations, quoted or bare names, inline ``anchor NAME { ... }``
blocks whose inner anchors are relative to the outer one); :func:`evaluates` says whether an
anchor rule reaches an anchor path (``a/*`` reaches the anchors directly under ``a``). The
reader finds the ruleset the way rc.d/pf does (``pf_rules`` in ``/etc/rc.conf``,
``/etc/rc.conf.local``, default ``/etc/pf.conf``) and follows ``include`` lines.
"""

from __future__ import annotations

import platform
import re
import shlex
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TextIO

from warden.config.jail import JailsConfig

__all__ = [
    "WARDEN_ANCHOR_LINE",
    "anchor_warnings",
    "evaluated_anchors",
    "evaluates",
    "jail_anchors",
    "pf_rules_path",
    "read_ruleset",
    "report_pf_anchors",
]

#: the pf.conf line that evaluates the anchors of warden's own tree
WARDEN_ANCHOR_LINE = 'anchor "warden/*"'

_PF_ACTIONS = ("pf", "pf-allports")
_RC_FILES = ("etc/rc.conf", "etc/rc.conf.local")
_PF_RULES = re.compile(r"""^\s*pf_rules\s*=\s*(?:"([^"]*)"|'([^']*)'|(\S+))""", re.M)
_INCLUDE_DEPTH = 5


def _logical_lines(text: str) -> list[str]:
    """pf.conf lines with continuations joined and comments removed."""
    lines: list[str] = []
    pending = ""
    for raw in text.splitlines():
        line = _uncomment(raw)
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        lines.append(pending + line)
        pending = ""
    if pending:
        lines.append(pending)
    return lines


def _uncomment(line: str) -> str:
    quoted = False
    for at, char in enumerate(line):
        if char == '"':
            quoted = not quoted
        elif char == "#" and not quoted:
            return line[:at]
    return line


def _words(line: str) -> list[str]:
    # braces are words of their own even when written against a name: anchor "x"{
    spaced = re.sub(r'("[^"]*")|([{}])', lambda m: m.group(1) or f" {m.group(2)} ", line)
    try:
        return shlex.split(spaced)
    except ValueError:
        return spaced.split()


def _join(parent: str, name: str) -> str:
    name = name.strip("/")
    return f"{parent}/{name}" if parent else name


def evaluated_anchors(text: str) -> list[str]:
    """The anchor paths the filter rules of pf.conf ``text`` evaluate, in order.

    ``anchor "f2b/*"`` gives ``f2b/*``; inside ``anchor "f2b" { ... }`` an ``anchor sshd``
    gives ``f2b/sshd`` (and the block itself evaluates ``f2b``). ``load anchor``, ``nat-anchor``
    and ``rdr-anchor`` lines evaluate no filter rules and are left out.
    """
    found: list[str] = []
    stack: list[str] = [""]  # the anchor each open inline block belongs to
    for line in _logical_lines(text):
        words = _words(line)
        opened = words.count("{")
        closed = words.count("}")
        if words and words[0] == "anchor":
            name = words[1] if len(words) > 1 and words[1] not in ("{", "in", "out", "on") else ""
            path = _join(stack[-1], name) if name else stack[-1]
            if name:
                found.append(path)
            if opened > closed:
                stack.append(path)
                continue
        for _ in range(max(0, closed - opened)):
            if len(stack) > 1:
                stack.pop()
    return found


def evaluates(rule: str, anchor: str) -> bool:
    """True if the anchor rule ``rule`` (a path from :func:`evaluated_anchors`) runs the rules
    of ``anchor``: the same path, or ``parent/*`` (``*`` alone: the top-level anchors)."""
    if rule == anchor:
        return True
    if rule == "*":
        return "/" not in anchor
    parent, _, last = anchor.rpartition("/")
    return rule.endswith("/*") and rule[:-2] == parent and bool(last)


def pf_rules_path(rc_texts: Iterable[str]) -> str:
    """The ruleset file of rc.d/pf: the last ``pf_rules`` of the rc.conf texts, or
    ``/etc/pf.conf``."""
    path = "/etc/pf.conf"
    for text in rc_texts:
        for match in _PF_RULES.finditer(text):
            value = next(g for g in match.groups() if g is not None)
            if value:
                path = value
    return path


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None


def _expand_includes(text: str, root: Path, depth: int) -> str:
    out: list[str] = []
    for line in _logical_lines(text):
        words = _words(line)
        if depth < _INCLUDE_DEPTH and len(words) == 2 and words[0] == "include":
            included = _read(root / words[1].lstrip("/"))
            if included is not None:
                out.append(_expand_includes(included, root, depth + 1))
                continue
        out.append(line)
    return "\n".join(out)


def read_ruleset(root: Path = Path("/")) -> tuple[str, str | None]:
    """The host's pf ruleset file (under ``root``) and its text with includes inlined, or
    ``None`` as text when it cannot be read."""
    rc = [t for t in (_read(root / name) for name in _RC_FILES) if t is not None]
    name = pf_rules_path(rc)
    text = _read(root / name.lstrip("/"))
    return name, None if text is None else _expand_includes(text, root, 0)


def _anchor_of(actionban: str) -> str | None:
    try:
        words = shlex.split(actionban.strip().splitlines()[0]) if actionban.strip() else []
    except ValueError:
        return None
    for at, word in enumerate(words):
        if word == "-a" and at + 1 < len(words):
            return words[at + 1]
        if word.startswith("-a") and len(word) > 2:
            return word[2:]
    return None


def jail_anchors(config: JailsConfig) -> dict[str, str]:
    """The anchor of each enabled jail whose bans go to warden's native pf backend."""
    anchors: dict[str, str] = {}
    for jail in config.jails:
        for action in jail.actions:
            options = action.options or action.params
            native = options.get("native", "true").strip().lower()
            if action.file not in _PF_ACTIONS or native in ("0", "false", "no", "off"):
                continue
            anchor = _anchor_of(options.get("actionban", ""))
            if anchor:
                anchors[jail.name] = anchor
    return anchors


def _suggested(anchor: str) -> str:
    parent = anchor.rpartition("/")[0]
    return f'anchor "{parent}/*"' if parent else f'anchor "{anchor}"'


def anchor_warnings(anchors: Mapping[str, str], ruleset: str, text: str | None,
                    *, bsd: bool) -> list[str]:
    """Warnings for the jails (``jail -> anchor``) whose anchor pf.conf ``text`` never
    evaluates; ``text`` ``None``: the file ``ruleset`` could not be read (a warning on BSD
    only, where pf is the firewall)."""
    if not anchors:
        return []
    if text is None:
        if not bsd:
            return []
        lines = sorted({_suggested(a) for a in anchors.values()})
        return [f"{ruleset}: cannot be read, so pf evaluates no anchor of warden's jails "
                f"({', '.join(sorted(anchors))}); pf.conf needs {' and '.join(lines)}"]
    rules = evaluated_anchors(text)
    missing: dict[str, list[str]] = {}
    for jail, anchor in sorted(anchors.items()):
        if not any(evaluates(rule, anchor) for rule in rules):
            missing.setdefault(_suggested(anchor), []).append(f"{jail} ({anchor})")
    return [f"{ruleset}: no anchor rule evaluates the pf rules of jail(s) {', '.join(jails)}: "
            f"bans would block nothing; add the line {line} to its filter section (before "
            "any pass quick rule) and reload pf" for line, jails in sorted(missing.items())]


def report_pf_anchors(config: JailsConfig, out: TextIO, root: Path = Path("/"),
                      system: str | None = None) -> None:
    """Write ``warning:`` lines to ``out`` for pf jails the host's pf.conf does not evaluate."""
    anchors = jail_anchors(config)
    if not anchors:
        return
    name = system if system is not None else platform.system()
    bsd = name.endswith("BSD") or name == "DragonFly"
    ruleset, text = read_ruleset(root)
    for warning in anchor_warnings(anchors, ruleset, text, bsd=bsd):
        out.write(f"warning: {warning}\n")
