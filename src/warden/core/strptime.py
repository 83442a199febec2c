"""strptime-style directives for date patterns, and turning matched fields into epoch seconds.

A ``datepattern`` such as ``%b %d %H:%M:%S`` is rewritten into a regular expression whose named
groups carry the fields (``b``, ``d``, ``H``...). :func:`resolve` then turns those fields into
epoch seconds with fail2ban 1.0.2's rules:

* no year: now's year, and if that puts the date more than a day after now, the year before;
* no day at all (time only): today, and if that is after now, yesterday;
* an explicit zone (``%z``/``%Z``) wins over ``logtimezone``; without either the text is local
  time of the process (``TZ``, with DST, via :func:`time.mktime`);
* fractions of a second are dropped.

The comparisons with "now" are made on wall-clock values (the date as written, shifted to UTC
when a zone is given, against now as local wall-clock time): that is how fail2ban compares them,
so the edge cases (a zoned date near midnight) come out the same.
"""

from __future__ import annotations

import calendar
import datetime as _dt
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = [
    "DIRECTIVE_NAMES",
    "NowContext",
    "directive_regex",
    "parse_timezone",
    "resolve",
    "spell_caseless",
    "year_window_regex",
    "zone_offset",
]

_DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_MONTHS = (
    "january", "february", "march", "april", "may", "june",
    "july", "august", "september", "october", "november", "december",
)  # fmt: skip
# Full and 3-letter names (lower case) -> month 1..12 / weekday 0..6 (Monday first).
MONTH_NUMBER = {n[:k]: i for i, n in enumerate(_MONTHS, 1) for k in (3, len(n))}
WEEKDAY_NUMBER = {n[:k]: i for i, n in enumerate(_DAYS) for k in (3, len(n))}


def _names(group: str, words: tuple[str, ...], short: bool) -> str:
    # Longest first, as the C-locale strptime does (no name is a prefix of another anyway).
    items = sorted((w[:3] if short else w for w in words), key=len, reverse=True)
    return f"(?P<{group}>{'|'.join(items)})"


# Group names are the strptime letters, so several spellings of one field share a group name
# (%H, %k and %ExH all fill ``H``). Alternation order matters: Python's regex takes the first
# alternative that lets the whole pattern match, and fail2ban's results depend on that order.
_ZONE_ABBR = r"[A-Z](?:[A-Z]{2,4})?"
_ZONE_NUM = r"[+-][01]\d(?::?\d{2})?"
_STD_DAY = r"(?P<d>3[01]|[12]\d|0[1-9]|[1-9]| [1-9])"
_STD_TIME = r"(?P<H>2[0-3]|[01]\d|\d):(?P<M>[0-5]\d|\d):(?P<S>6[01]|[0-5]\d|\d)"
_DIRECTIVES: dict[str, str] = {
    "a": _names("a", _DAYS, True),
    "A": _names("A", _DAYS, False),
    "b": _names("b", _MONTHS, True),
    "B": _names("B", _MONTHS, False),
    "c": r"\s+".join(
        (_names("a", _DAYS, True), _names("b", _MONTHS, True), _STD_DAY, _STD_TIME, r"(?P<Y>\d{4})")
    ),
    "d": r"(?P<d>[12]\d|[0 ]?[1-9]|3[01])",
    "f": r"(?P<f>[0-9]{1,6})",
    "G": r"(?P<G>\d\d\d\d)",
    "H": r"(?P<H>[01]?\d|2[0-3])",
    "I": r"(?P<I>1[0-2]|0[1-9]|[1-9])",
    "j": r"(?P<j>36[0-6]|3[0-5]\d|[12]\d\d|0[1-9]\d|00[1-9]|[1-9]\d|0[1-9]|[1-9])",
    "k": r" ?(?P<H>[0-2]?\d)",
    "l": r" ?(?P<I>1?\d)",
    "m": r"(?P<m>0?[1-9]|1[0-2])",
    "M": r"(?P<M>[0-5]?\d)",
    "p": r"(?P<p>am|pm)",
    "S": r"(?P<S>[0-5]?\d|6[01])",
    "u": r"(?P<u>[1-7])",
    "U": r"(?P<U>5[0-3]|[0-4]\d|\d)",
    "V": r"(?P<V>5[0-3]|0[1-9]|[1-4]\d|\d)",
    "w": r"(?P<w>[0-6])",
    "W": r"(?P<W>5[0-3]|[0-4]\d|\d)",
    "x": r"(?P<m>1[0-2]|0[1-9]|[1-9])/" + _STD_DAY + r"/(?P<y>\d\d)",
    "X": _STD_TIME,
    "y": r"(?P<y>\d\d)",
    "Y": r"(?P<Y>\d{4})",
    # Upper case only (but %b & co. switch the whole pattern to ignore case).
    "z": rf"(?P<z>Z|UTC|GMT|{_ZONE_NUM})",
    "Z": r"(?P<Z>Z|[A-Z]{3,5})",
    "ExZ": rf"(?P<Z>{_ZONE_ABBR})",
    "Exz": rf"(?P<z>(?:{_ZONE_ABBR})?{_ZONE_NUM}|{_ZONE_ABBR})",
    "Exd": r"(?P<d>[12]\d|0[1-9]|3[01])",
    "Exm": r"(?P<m>0[1-9]|1[0-2])",
    "ExH": r"(?P<H>[01]\d|2[0-3])",
    "Exk": r" ?(?P<H>[01]?\d|2[0-3])",
    "Exl": r" ?(?P<I>1[0-2]|\d)",
    "ExM": r"(?P<M>[0-5]\d)",
    "ExS": r"(?P<S>[0-5]\d|6[01])",
    "Exy": r"(?P<y>\d{2})",
}

#: Human names of the directives, used to name templates exactly as fail2ban does.
DIRECTIVE_NAMES: dict[str, str] = {
    "a": "DAY", "A": "DAYNAME", "b": "MON", "B": "MONTH", "d": "Day", "H": "24hour",
    "I": "12hour", "j": "Yearday", "m": "Month", "M": "Minute", "p": "AMPM", "S": "Second",
    "U": "Yearweek", "w": "Weekday", "W": "Yearweek", "y": "Year2", "Y": "Year", "%": "%",
    "z": "Zone offset", "f": "Microseconds", "Z": "Zone name",
}  # fmt: skip
for _key in [*_DIRECTIVES, "ExY"]:
    if _key not in DIRECTIVE_NAMES:
        _base = DIRECTIVE_NAMES.get(_key[2:]) if _key.startswith("Ex") else None
        DIRECTIVE_NAMES[_key] = "Ex" + _base if _base else "%" + _key


def year_window_regex(last_year: int) -> str:
    """Regex of the 4-digit years 2000..``last_year`` (rounded up to the end of its decade)."""
    last_decade = min(max(last_year, 2000), 9999) // 10
    decades = [f"{d:03d}" for d in range(200, last_decade + 1)]
    # Group the decades by century so the regex stays a plain character-class chain.
    parts: list[str] = []
    by_century: dict[str, list[str]] = {}
    for d in decades:
        by_century.setdefault(d[:2], []).append(d[2])
    for century, digits in by_century.items():
        cls = digits[0] if len(digits) == 1 else f"[{''.join(digits)}]"
        parts.append(century + cls)
    body = parts[0] if len(parts) == 1 else "(?:" + "|".join(parts) + ")"
    return rf"(?P<Y>{body}\d)"


def directive_regex(key: str, year_regex: str) -> str:
    """The regex text for directive ``key`` (``%ExY`` takes the current year window)."""
    if key == "ExY":
        return year_regex
    if key == "%":
        return "%"
    return _DIRECTIVES[key]


def spell_caseless(directive: str) -> str:
    """A directive's regex spelled out to match without IGNORECASE as it does with it."""
    return _CASELESS.get(directive) or _spell_caseless(directive)


# Under re.IGNORECASE|UNICODE an ASCII letter also matches its other case and, for i, k and s,
# these code points (found by testing every code point against the re module).
_FOLD_EXTRA = {"i": "\u0130\u0131", "k": "\u212a", "s": "\u017f"}
_UPPER_CLASS = "[A-Z]"


def _letter_class(c: str) -> str:
    return f"[{c.lower()}{c.upper()}{_FOLD_EXTRA.get(c.lower(), '')}]"


def _spell_caseless(regex: str) -> str:
    """Rewrite a directive regex so it matches without the IGNORECASE flag as it does with it.

    Case-insensitive matching is about twice as slow in Python's engine, and most lines go
    through the date regex. Only the constructs used in the directive table are handled.
    """
    out: list[str] = []
    i = 0
    while i < len(regex):
        c = regex[i]
        if regex.startswith("(?P<", i):
            j = regex.index(">", i) + 1
            out.append(regex[i:j])
            i = j
        elif c == "\\":
            out.append(regex[i : i + 2])
            i += 2
        elif regex.startswith(_UPPER_CLASS, i):
            extra = "".join(_FOLD_EXTRA.values())
            out.append(f"[A-Za-z{extra}]")
            i += len(_UPPER_CLASS)
        elif c == "[":
            j = regex.index("]", i) + 1
            if any(ch.isalpha() for ch in regex[i:j]):
                raise AssertionError(f"cannot spell {regex[i:j]} caseless")
            out.append(regex[i:j])
            i = j
        else:
            out.append(_letter_class(c) if c.isalpha() else c)
            i += 1
    return "".join(out)


_CASELESS = {rx: _spell_caseless(rx) for rx in _DIRECTIVES.values()}


def is_directive(key: str) -> bool:
    """Whether ``%key`` is a known directive."""
    return key in _DIRECTIVES or key in ("ExY", "%")


# Zone abbreviations with a fixed offset (hours east of UTC). Summer-time names carry their
# own offset; no DST switching is implied (CET is always +01:00).
_ZONE_TABLE: dict[float, str] = {
    -12: "Y", -11: "X NUT SST", -10: "W CKT HAST HST TAHT TKT", -9: "V AKST GAMT GIT HADT HNY",
    -8: "U AKDT CIST HAY HNP PST PT", -7: "T HAP HNR MST PDT",
    -6: "S CST EAST GALT HAR HNC MDT", -5: "R CDT COT EASST ECT EST ET HAC HNE PET",
    -4: "Q AST BOT CLT COST EDT FKT GYT HAE HNA PYT",
    -3: "P ADT ART BRT CLST FKST GFT HAA PMST PYST SRT UYT WGT",
    -2: "O BRST FNT PMDT UYST WGST", -1: "N AZOT CVT EGT", 0: "Z EGST GMT UTC WET WT",
    1: "A CET DFT WAT WEDT WEST", 2: "B CAT CEDT CEST EET SAST WAST",
    3: "C EAT EEDT EEST IDT MSK", 4: "D AMT AZT GET GST KUYT MSD MUT RET SAMT SCT",
    5: "E AMST AQTT AZST HMT MAWT MVT PKT TFT TJT TMT UZT YEKT",
    6: "F ALMT BIOT BTT IOT KGT NOVT OMST YEKST", 7: "G CXT DAVT HOVT ICT KRAT NOVST OMSST THA WIB",
    8: "H ACT AWST BDT BNT CAST HKT IRKT KRAST MYT PHT SGT ULAT WITA WST",
    9: "I AWDT IRKST JST KST PWT TLT WDT WIT YAKT", 10: "K AEST ChST PGT VLAT YAKST YAPT",
    11: "L AEDT LHDT MAGT NCT PONT SBT VLAST VUT",
    12: "M ANAST ANAT FJT GILT MAGST MHT NZST PETST PETT TVT WFT", 13: "FJST NZDT",
    11.5: "NFT", 10.5: "ACDT LHST", 9.5: "ACST", 6.5: "CCT MMT", 5.75: "NPT", 5.5: "SLT",
    4.5: "AFT IRDT", 3.5: "IRST", -2.5: "HAT NDT", -3.5: "HNT NST NT", -4.5: "HLV VET",
    -9.5: "MART MIT",
}  # fmt: skip
_ZONE_MINUTES: dict[str, int] = {
    abbr: int(hours * 60) for hours, names in _ZONE_TABLE.items() for abbr in names.split()
}
_ZONE_SPEC = re.compile(rf"({_ZONE_ABBR})?([+-][01]\d(?::?\d{{2}})?)?$")


def zone_offset(text: str) -> int:
    """Minutes east of UTC for a zone text: ``UTC``, ``Z``, ``CEST``, ``+0200``, ``UTC+02:00``...

    Raises ValueError for an unknown zone.
    """
    if text in ("Z", "UTC", "GMT"):
        return 0
    m = _ZONE_SPEC.match(text)
    if m is None:
        raise ValueError(f"unknown or unsupported time zone: {text!r}")
    abbr, num = m.groups()
    base = _ZONE_MINUTES[abbr] if abbr else 0  # KeyError for unknown names: caller handles
    if not num:
        return base
    if len(num) <= 3:
        return base + int(num) * 60
    minutes = int(num[4:6]) if num[3] == ":" else int(num[3:5])
    return base + (-1 if num[0] == "-" else 1) * (int(num[1:3]) * 60 + minutes)


def parse_timezone(spec: str | None) -> int | None:
    """Validate a ``logtimezone`` value; return its offset in minutes (None: local time)."""
    if spec is None:
        return None
    try:
        return zone_offset(spec)
    except (ValueError, KeyError):
        raise ValueError(f"unknown or unsupported time zone: {spec!r}") from None


@dataclass(frozen=True, slots=True)
class NowContext:
    """What conversion needs to know about "now": its local wall clock and calendar date."""

    wall: float  # now as local wall-clock seconds (timegm of the local broken-down time)
    year: int
    month: int
    day: int

    @classmethod
    def at(cls, now: float) -> NowContext:
        """The context for epoch ``now`` in the process' local time zone."""
        whole = int(now // 1)
        lt = time.localtime(whole)
        wall = calendar.timegm(lt) + (now - whole)
        return cls(wall, lt.tm_year, lt.tm_mon, lt.tm_mday)


_EPOCH = _dt.datetime(1970, 1, 1)
_DAY = _dt.timedelta(days=1)


def _wall(d: _dt.datetime) -> int:
    return (d - _EPOCH) // _dt.timedelta(seconds=1)


def _julian_from_week(year: int, week: int, weekday: int, monday_first: bool) -> int:
    first = _dt.date(year, 1, 1).weekday()
    if not monday_first:
        first = (first + 1) % 7
        weekday = (weekday + 1) % 7
    if week == 0:
        return 1 + weekday - first
    return 1 + (7 - first) % 7 + 7 * (week - 1) + weekday


def resolve(fields: Mapping[str, str | None], ctx: NowContext, default_tz: int | None) -> float:
    """Epoch seconds for the matched ``fields`` (group name -> text), per fail2ban's rules.

    Raises ValueError (or KeyError/TypeError for fields that cannot form a date) when the text
    does not give a valid date.
    """
    year = month = day = offset = weekday = julian = week = None
    monday_first = False
    hour = minute = second = 0
    for key, val in fields.items():
        if val is None:
            continue
        if key == "y":
            year = int(val)
            year += 2000 if year <= 2000 else 0
        elif key == "Y":
            year = int(val)
        elif key == "m":
            month = int(val)
        elif key in ("b", "B"):
            month = MONTH_NUMBER[val.lower()]
        elif key == "d":
            day = int(val)
        elif key == "H":
            hour = int(val)
        elif key == "I":
            hour = int(val)
            half = (fields.get("p") or "").lower()
            if half in ("", "am") and hour == 12:
                hour = 0
            elif half == "pm" and hour != 12:
                hour += 12
        elif key == "M":
            minute = int(val)
        elif key == "S":
            second = int(val)
        elif key in ("a", "A"):
            weekday = WEEKDAY_NUMBER[val.lower()]
        elif key == "w":
            weekday = (int(val) - 1) % 7
        elif key == "j":
            julian = int(val)
        elif key in ("U", "W"):
            week = int(val)
            monday_first = key == "W"
        elif key in ("z", "Z"):
            offset = zone_offset(val)

    assume_year = year is None
    if year is None:
        year = ctx.year
    undated = month is None or day is None
    if undated and julian is None and week is not None and weekday is not None:
        julian = _julian_from_week(year, week, weekday, monday_first)
    if undated and julian is not None:
        d = _dt.date.fromordinal(_dt.date(year, 1, 1).toordinal() + julian - 1)
        year, month, day = d.year, d.month, d.day
    assume_today = month is None and day is None
    if assume_today:
        month, day = ctx.month, ctx.day
    if month is None or day is None:
        raise TypeError("incomplete date")

    value = _dt.datetime(year, month, day, hour, minute, second)
    if offset is None:
        offset = default_tz
    if offset is not None:
        value -= _dt.timedelta(minutes=offset)
    if assume_today and _wall(value) > ctx.wall:
        value -= _DAY  # a time after now: it was yesterday
    if assume_year and _wall(value) > ctx.wall + 86400:
        # More than a day ahead: last year's date (month and day as written).
        value = value.replace(year=year - 1, month=month, day=day)
    if offset is not None:
        return float(_wall(value))
    return local_epoch(_wall(value))


def local_epoch(wall: int) -> float:
    """Epoch of local wall-clock time ``wall`` (seconds, as if it were UTC), DST-aware.

    Deterministic where :func:`time.mktime` is not: a wall time that occurs twice (clocks go
    back) is the first occurrence, one that does not occur (clocks go forward) is read with
    the offset before the change. glibc's mktime answers both from its previous call, so
    for a log read in order fail2ban mostly gets these same answers.
    """
    before = time.localtime(wall - 43200).tm_gmtoff
    after = time.localtime(wall + 43200).tm_gmtoff
    if before == after:  # no change near: the common case, one localtime call would do
        t = wall - before
        if calendar.timegm(time.localtime(t)) == wall:
            return float(t)
    found = [
        wall - off for off in {before, after} if calendar.timegm(time.localtime(wall - off)) == wall
    ]
    return float(min(found) if found else wall - before)
