"""Date templates: one compiled regex per date format, plus what kind of value it yields.

A template is built from one line of a ``datepattern`` (or from the default list) the way
fail2ban 1.0.2 builds it, so the same text is found at the same place:

* ``%``-directives become named groups (:mod:`warden.core.strptime`); ``%%`` is a percent sign;
* unless the pattern starts at a line start (``^``), with ``{^LN-BEG}`` or ``**``, it must begin
  at a word boundary; unless it ends with ``$``, ``\\b``, ``\\s`` or ``**`` it must end at one;
* ``{^LN-BEG}`` anchors it at the line start, allowing up to two non-word characters before;
* ``{UNB}`` drops both boundary checks;
* group 1 is the date text (the whole pattern is wrapped in a group if it has none);
* patterns with day or month names (``%a %A %b %B %p %c``) ignore case.

``EPOCH``, ``LEPOCH`` (milli/microseconds) and ``TAI64N`` are templates of their own kind, and
``{EPOCH}``/``{LEPOCH}`` can be embedded in a larger pattern.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum

from warden.core import strptime

__all__ = [
    "DEFAULT_PATTERNS",
    "Kind",
    "PatternError",
    "Template",
    "build_template",
    "build_templates",
    "number_value",
    "unbound",
]


class Kind(Enum):
    """How the matched text turns into a time."""

    PATTERN = "pattern"  # strptime-like fields in named groups
    EPOCH = "epoch"  # seconds since the epoch, fraction kept
    LONG_EPOCH = "lepoch"  # seconds, milliseconds or microseconds since the epoch
    TAI64N = "tai64n"  # @ + 24 hex digits


LINE_BEGIN = 8
LINE_END = 4
WORD_BEGIN = 2
WORD_END = 1
_ANCHORED = LINE_BEGIN | LINE_END


@dataclass(eq=False, slots=True)
class Template:
    """A compiled date template."""

    name: str
    pattern: str | None  # the datepattern text (None for EPOCH/TAI64N built from a keyword)
    regex: re.Pattern[str]
    kind: Kind
    flags: int
    weight: float = 1.0
    value_group: int = 1  # epoch kinds: the group holding the number
    group_names: tuple[str, ...] = field(default=())

    @property
    def anchored(self) -> bool:
        """Anchored at a line start or end: its position alone decides, no need to look on."""
        return bool(self.flags & _ANCHORED)


# --- shape tests on regex text (what a pattern starts or ends with) -------------------------
_FLAGS_GROUP = re.compile(r"\(\?[a-z]+\)")
# Starts at a line start or with "**": optional "(" run, optional inline-flag group, then "^",
# "(" run + "**", or "(" / "(?:" + "^".
_STARTS_UNBOUNDED = re.compile(r"^[(]*(?:[(][?]\w+[)])?(?:\^|[(]*[*][*]|[(](?:[?]:)?\^)")
# Ends at a line end, with an explicit boundary or "**" (all unescaped).
_ENDS_UNBOUNDED = re.compile(r"(?<![\\])(?:\$[)]?|\\b|\\s|[*][*][)]*)$")
# Has a capturing group: "(" not escaped, not "(?...", not the condition of "(?(...)".
_HAS_GROUP = re.compile(r"(?<![(][?])(?<![\\])[(](?![?])")
_SPLIT_FOR_GROUP = re.compile(r"^((?:[(][?]\w+[)])?\^?(?:[(][?]\w+[)])?)(.*?)(\$?)$")
_LINE_START = re.compile(r"^(?:[(][?]\w+[)])?(?:\^|[(](?:[?]:)?\^(?![|]))")
_LINE_END = re.compile(r"(?<![\\|])\$[)]?$")
_STARS = re.compile(r"^[(]*(?:[(][?]\w+[)])?[(]*[*][*]|(?<![\\])[*][*][)]*$")
_WORD_START = r"(?=^|\b|\W)"
_WORD_END = r"(?=\b|\W|$)"
_LINE_BEGIN_PREFIX = r"^(?:\W{0,2})?"

# --- special pattern words ------------------------------------------------------------------
_UNB = "{UNB}"
_LN_BEG = "{^LN-BEG}"
_EPOCH_SLOT = re.compile(r"(?<![\\])\{L?EPOCH\}", re.IGNORECASE)
_EPOCH_RX = r"\d{10,11}\b(?:\.\d{3,6})?"
_LONG_EPOCH_RX = r"\d{10,11}(?:\d{3}(?:\.\d{1,6}|\d{3})?)?"
_TAI64N_RX = "@[0-9a-f]{24}"
_CASELESS_DIRECTIVE = re.compile(r"(?<![%])%[aAbBpc]")
_DIRECTIVE_TEXT = re.compile(r"%(?:Ex[A-Za-z]|.)", re.DOTALL)
_GROUP_NAMES = re.compile(r"\(\?P[<=]\w+[>)]")
_PLAIN_ESCAPES = re.compile(r"\\[dDsSwWbB]|\\[^0-9A-Za-z]")


def _bound(regex: str, name: str, word_begin: bool | str, word_end: bool) -> tuple[str, str, int]:
    """Add boundaries and group 1 to a date regex; returns (regex, name, flags)."""
    regex = regex.strip()
    # Inline global flags must lead the final regex (Python 3.11 insists); lift the first.
    lifted = _FLAGS_GROUP.search(regex)
    if lifted:
        regex = regex[: lifted.start()] + regex[lifted.end() :]
    need_begin = bool(word_begin) and not _STARTS_UNBOUNDED.search(regex)
    need_end = word_end and not _ENDS_UNBOUNDED.search(regex)
    if not _HAS_GROUP.search(regex):
        regex = _SPLIT_FOR_GROUP.sub(r"\1(\2)\3", regex)
    flags = 0
    if need_begin:
        if word_begin == "start":
            flags |= LINE_BEGIN
            regex = _LINE_BEGIN_PREFIX + regex
            if not name.startswith(_LN_BEG):
                name = _LN_BEG + name
        else:
            flags |= WORD_BEGIN
            regex = _WORD_START + regex
    if need_end:
        flags |= WORD_END
        regex += _WORD_END
    if _LINE_START.search(regex):
        flags |= LINE_BEGIN
    if _LINE_END.search(regex):
        flags |= LINE_END
    regex = _STARS.sub(lambda m: m.group().replace("**", ""), regex)
    if lifted:
        regex = lifted.group() + regex
    return regex, name, flags


def _compile(regex: str, source: str) -> re.Pattern[str]:
    try:
        # re's FutureWarnings (e.g. "possible nested set") would go to stderr from the pure
        # core; the pattern compiles and means today what it meant to fail2ban.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            return re.compile(regex)
    except re.error as exc:
        raise ValueError(f"date pattern {source!r} does not compile: {exc}") from None


def _translate(pattern: str, year_regex: str, caseless: bool) -> tuple[str, str, bool]:
    """Replace %-directives: returns (regex, template name, spelled). ValueError on a stray ``%``.

    ``caseless``: the pattern has name directives and must match ignoring case: the regex then
    starts with ``(?iu)``. ``spelled``: the name directives are spelled out caseless instead,
    so the caller may drop that flag (same matches, regex twice as fast). That is only done
    when the pattern's own text has nothing case could change and no such directive sits
    inside a character class of the pattern.
    """
    pieces: list[tuple[str, bool]] = []  # (regex text, is a case-dependent directive)
    name: list[str] = []
    pos = i = 0
    while True:
        i = pattern.find("%", i)
        if i < 0:
            break
        key = pattern[i + 1 : i + 4]
        if not (key.startswith("Ex") and strptime.is_directive(key)):
            key = pattern[i + 1 : i + 2]
            if not strptime.is_directive(key):
                raise ValueError(
                    f"date pattern {pattern!r}: invalid %-directive or unescaped percent sign"
                )
        pieces += ((pattern[pos:i], False), (strptime.directive_regex(key, year_regex), True))
        name += (pattern[pos:i], strptime.DIRECTIVE_NAMES[key])
        i = pos = i + 1 + len(key)
    pieces.append((pattern[pos:], False))
    name.append(pattern[pos:])
    text = "".join(p for p, _ in pieces)
    if not caseless:
        return text, "".join(name), False
    spell = not _has_cased_text(_DIRECTIVE_TEXT.sub("", pattern)) and _outside_classes(pieces)
    if spell:
        text = "".join(strptime.spell_caseless(p) if d else p for p, d in pieces)
    return "(?iu)" + text, "".join(name), spell


def _outside_classes(pieces: list[tuple[str, bool]]) -> bool:
    """Whether every directive piece starts outside a ``[...]`` class of the joined regex."""
    in_class = False
    for piece, directive in pieces:
        if directive and in_class:
            return False
        i = 0
        while i < len(piece):
            c = piece[i]
            if c == "\\":
                i += 2
                continue
            if not in_class and c == "[":
                in_class = True
                i += 2 if piece[i + 1 : i + 2] == "^" else 1
                i += 1 if piece[i : i + 1] == "]" else 0  # a leading "]" is a member
                continue
            if in_class and c == "]":
                in_class = False
            i += 1
    return True


def _has_cased_text(text: str) -> bool:
    """Whether regex ``text`` could match differently under IGNORECASE (conservatively)."""
    text = _GROUP_NAMES.sub("", text)
    text = _PLAIN_ESCAPES.sub("", text)
    return "\\" in text or any(c.lower() != c or c.upper() != c for c in text)


def _pattern_template(pattern: str, year_regex: str, word_begin: bool | str = True) -> Template:
    source = pattern
    word_end = True
    if pattern.startswith(_UNB):
        pattern = pattern[len(_UNB) :]
        word_begin = word_end = False
    if word_begin and pattern.startswith(_LN_BEG):
        pattern = pattern[len(_LN_BEG) :]
        word_begin = "start"
    regex, name, spelled = _translate(
        pattern, year_regex, bool(_CASELESS_DIRECTIVE.search(pattern))
    )
    regex, name, flags = _bound(regex, name, word_begin, word_end)
    if spelled:
        # _bound treats the regex exactly as with the flag (it lifts and restores it first).
        regex = regex.removeprefix("(?iu)")
    compiled = _compile(regex, source)
    return Template(
        name, source, compiled, Kind.PATTERN, flags, group_names=tuple(compiled.groupindex)
    )


def _epoch_template(pattern: str | None, line_begin: bool, long: bool) -> Template:
    number = _LONG_EPOCH_RX if long else _EPOCH_RX
    kind = Kind.LONG_EPOCH if long else Kind.EPOCH
    name = pattern or ("LongEpoch" if long else "Epoch")
    if pattern:
        # The pattern is group 1 (cut out of the line), the number group 2.
        regex = "(" + _EPOCH_SLOT.sub(lambda _m: f"({number})", pattern) + ")"
        regex, name, flags = _bound(regex, name, True, True)
        return Template(name, pattern, _compile(regex, pattern), kind, flags, value_group=2)
    if line_begin:
        regex, name, flags = _bound(f"({number})", name, "start", True)
    else:
        # At the line start, right after a leading "[" or inside SELinux's "audit(".
        regex = r"((?:^|(?<=^\[)|(?<=\baudit\())" + number + ")"
        regex, name, flags = _bound(regex, name, False, True)
    return Template(name, None, _compile(regex, name), kind, flags)


def _tai64n_template(line_begin: bool) -> Template:
    regex, name, flags = _bound(_TAI64N_RX, "TAI64N", "start" if line_begin else False, True)
    return Template(name, None, _compile(regex, name), Kind.TAI64N, flags)


def build_template(pattern: str, year_regex: str) -> Template:
    """Build the template of one ``datepattern`` line (not the list forms ``{^LN-BEG}`` etc.).

    Raises ValueError if the pattern is invalid.
    """
    key = pattern if "%" in pattern else pattern.upper()
    if "EPOCH" in key:
        if _EPOCH_SLOT.search(pattern):
            return _epoch_template(pattern, False, "LEPOCH" in key)
        for word, long in (("EPOCH", False), ("LEPOCH", True)):
            if key == word:
                return _epoch_template(None, False, long)
            if key in (_LN_BEG + word, "^" + word):
                return _epoch_template(None, True, long)
    if key == "TAI64N":
        return _tai64n_template(False)
    if key in (_LN_BEG + "TAI64N", "^TAI64N"):
        return _tai64n_template(True)
    return _pattern_template(pattern, year_regex)


def unbound(pattern: str) -> str:
    """A pattern without its own boundary markers, for embedding at ``{DATE}``."""
    for prefix in (_UNB, _LN_BEG):
        if pattern.startswith(prefix):
            pattern = pattern[len(prefix) :]
    pattern = re.sub(r"^[(](?:[?]:)?\^[|]\\b[|]\\W[)]", "", pattern)
    return re.sub(r"[(][?]=\\b[|]\\W[|]\$[)]$", "", pattern)


#: fail2ban's default formats, most specific first (the order decides ties).
DEFAULT_PATTERNS: tuple[str, ...] = (
    # ISO 8601 / simple dates: 2005-01-23T21:59:59.981746+01:00, 2005/01/23 21:59:59, syslog-ng dots
    r"%ExY(?P<_sep>[-/.])%m(?P=_sep)%d(?:T|  ?)%H:%M:%S(?:[.,]%f)?(?:\s*%z)?",
    # asctime, optional weekday, fraction and trailing year: Sun Jan 23 21:59:59.011 2005
    r"(?:%a )?%b %d %k:%M:%S(?:\.%f)?(?: %ExY)?",
    # year before the time: Sun Jan 23 2005 21:59:59
    r"(?:%a )?%b %d %ExY %k:%M:%S(?:\.%f)?",
    # day first, 4- or 2-digit year: 23/01/2005 21:59:59, 17-07-08 17:23:25
    r"%d(?P<_sep>[-/])%m(?P=_sep)(?:%ExY|%Exy) %k:%M:%S",
    # Apache/named/roundcube: 31/Oct/2006:09:22:55 -0000, 26-Jul-2007 15:20:52.252
    r"%d(?P<_sep>[-/])%b(?P=_sep)%ExY[ :]?%H:%M:%S(?:\.%f)?(?: %z)?",
    # cPanel: 05/20/2008:01:57:39
    r"%m/%d/%ExY:%H:%M:%S",
    # month first with dashes: 01-27-2012 16:22:44.252
    r"%m-%d-%ExY %k:%M:%S(?:\.%f)?",
    "EPOCH",
    # time only, at the line start
    r"{^LN-BEG}%H:%M:%S",
    # <09/16/08@05:03:30>
    r"^<%m/%d/%Exy@%H:%M:%S>",
    # MySQL: 130322 11:46:11
    r"%Exy%Exm%Exd  ?%H:%M:%S",
    # Tomcat: Apr 16, 2013 8:03:14 PM
    r"%b %d, %ExY %I:%M:%S %p",
    # ASSP: Apr-27-13 02:33:06
    r"^%b-%d-%Exy %k:%M:%S",
    # compact ISO: 20050123T215959, 20050123 215959
    r"%ExY%Exm%Exd(?:T|  ?)%ExH%ExM%ExS(?:[.,]%f)?(?:\s*%z)?",
    # zone name first (monit): PDT Apr 16 21:05:29
    r"(?:%Z )?(?:%a )?%b %d %k:%M:%S(?:\.%f)?(?: %ExY)?",
    # zone offset first: +00:00 Jan 23 21:59:59.011 2005
    r"(?:%z )?(?:%a )?%b %d %k:%M:%S(?:\.%f)?(?: %ExY)?",
    "TAI64N",
)


class PatternError(ValueError):
    """A ``datepattern`` line that cannot be used; ``index`` is the line (0-based)."""

    def __init__(self, message: str, index: int) -> None:
        super().__init__(message)
        self.index = index


_DATE_SLOT = re.compile(r"(?<![\\])\{DATE\}", re.IGNORECASE)
_defaults_by_window: dict[str, tuple[list[Template], list[Template]]] = {}


def _default_lists(year_regex: str) -> tuple[list[Template], list[Template]]:
    """(all default templates incl. line-start anchored copies, the plain list) - shared."""
    lists = _defaults_by_window.get(year_regex)
    if lists is None:
        plain = [build_template(p, year_regex) for p in DEFAULT_PATTERNS]
        anchored: list[Template] = []
        for t in plain:
            if t.name.startswith((_LN_BEG, "^")):
                continue
            # A line-start copy of each floating format, tried first: faster and safer; its
            # weight makes it win reordering contests.
            a = build_template(_LN_BEG + (t.pattern or t.name), year_regex)
            if a.name != t.name:
                a.weight = 100.0
                anchored.append(a)
        lists = _defaults_by_window[year_regex] = (anchored + plain, plain)
    return lists


def _literal(text: str) -> Callable[[re.Match[str]], str]:
    """A re.sub replacement inserting ``text`` verbatim (no backslash processing)."""
    return lambda _m: text


def build_templates(pattern: str, year_regex: str) -> list[Template]:
    """The template list of a ``datepattern`` value (blank: the default list).

    One template per non-blank line; ``{^LN-BEG}`` (default templates anchored at the line
    start), ``{DEFAULT}`` (all defaults) and ``{DATE}`` (each plain default embedded at that
    place) expand to several, ``{NONE}`` matches empty text at the line start. Raises
    PatternError for an invalid line or one naming a template already listed.
    """
    out: list[Template] = []
    names: set[str] = set()
    every, plain = _default_lists(year_regex)
    lines = [s for s in (x.strip() for x in re.split("\n+", pattern)) if s]
    for index, text in enumerate(lines):
        key = text if "%" in text else text.upper()
        group = key in (_LN_BEG, "{DEFAULT}")
        embed = not group and "{DATE}" in key
        try:
            if group or embed:
                batch = plain if embed else every
                if key == _LN_BEG:
                    batch = [t for t in batch if t.flags & LINE_BEGIN]
                if embed:
                    batch = [
                        build_template(
                            _DATE_SLOT.sub(_literal(unbound(t.pattern or t.name)), text),
                            year_regex,
                        )
                        for t in batch
                    ]
            elif key == "{NONE}":
                # Empty text at the line start: the caller uses the last date or now.
                batch = [build_template(_UNB + "^", year_regex)]
            else:
                batch = [build_template(text, year_regex)]
        except ValueError as exc:
            raise PatternError(str(exc), index) from None
        # A group after other templates skips the ones already listed; otherwise a
        # repeated name is an error.
        skip_dups = (group or embed) and bool(out)
        for t in batch:
            if t.name in names:
                if skip_dups:
                    continue
                raise PatternError(f"date pattern {t.name!r} is given twice", index)
            names.add(t.name)
            out.append(t)
    return out or list(every)


def number_value(m: re.Match[str], t: Template) -> float:
    """Epoch seconds of an EPOCH/LEPOCH/TAI64N match."""
    text = m.group(t.value_group)
    if t.kind is Kind.TAI64N:
        # "@4000000" + seconds: skip the marker and the TAI label digit, take 15 hex digits.
        return float(int(text[2:17], 16))
    value = float(text)
    if t.kind is Kind.LONG_EPOCH and len(text) >= 13:
        value /= 1_000_000 if len(text) >= 16 and "." not in text else 1000
    return value
