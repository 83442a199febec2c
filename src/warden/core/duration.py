"""Time values as fail2ban writes them: ``10m``, ``1d12h30m``, ``1d 12h``, ``1w``, ``1mo``, ``-1``.

A value is a sum of terms. A term is a number (integer or decimal) with an optional unit; a
term without a unit counts seconds. Terms are joined by ``+``, ``-`` or plain juxtaposition
(``1d12h`` and ``1d 12h`` both mean one day plus twelve hours). Units are case-insensitive and
may be abbreviated the way fail2ban accepts them (``m``/``mm``/``min``/``minutes``, ``mo``/
``mon``/``month``, ...). A month is a twelfth of a mean Gregorian year (365.25 days).

The parser is a small hand-written tokenizer; nothing is ever evaluated.
"""

from __future__ import annotations

import math

__all__ = ["UNIT_SECONDS", "parse_duration"]

_DAY = 24 * 60 * 60
_YEAR = (365 * 3 + 366) * _DAY / 4

#: seconds per unit word (every spelling fail2ban accepts), all lower case
UNIT_SECONDS: dict[str, float] = {
    **dict.fromkeys(("s", "ss", "se", "sec", "second", "seconds"), 1),
    **dict.fromkeys(("m", "mm", "mi", "min", "minute", "minutes"), 60),
    **dict.fromkeys(("h", "hh", "ho", "hou", "hour", "hours"), 60 * 60),
    **dict.fromkeys(("d", "dd", "da", "day", "days"), _DAY),
    **dict.fromkeys(("w", "ww", "we", "wee", "week", "weeks"), 7 * _DAY),
    **dict.fromkeys(("mo", "mon", "month", "months"), _YEAR / 12),
    **dict.fromkeys(("y", "yy", "ye", "yea", "year", "years"), _YEAR),
}


class _Scanner:
    """Cursor over the text being parsed; raises ValueError naming the text and position."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def fail(self, why: str) -> ValueError:
        return ValueError(f"invalid time value {self.text!r}: {why} at position {self.pos + 1}")

    def skip_space(self) -> bool:
        start = self.pos
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1
        return self.pos > start

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def take_while(self, accept: str) -> str:
        start = self.pos
        while self.pos < len(self.text) and self.text[self.pos] in accept:
            self.pos += 1
        return self.text[start : self.pos]

    def take_letters(self) -> str:
        start = self.pos
        while (
            self.pos < len(self.text)
            and self.text[self.pos].isascii()
            and (self.text[self.pos].isalpha())
        ):
            self.pos += 1
        return self.text[start : self.pos]


def _number(scan: _Scanner) -> float:
    digits = "0123456789"
    whole = scan.take_while(digits)
    frac = ""
    if scan.peek() == ".":
        scan.pos += 1
        frac = scan.take_while(digits)
    if not whole and not frac:
        raise scan.fail("expected a number")
    return float(f"{whole or '0'}.{frac or '0'}")


def _term(scan: _Scanner) -> tuple[float, bool]:
    """One number with its optional unit; also says whether a unit was present."""
    value = _number(scan)
    after_number = scan.pos
    scan.skip_space()
    if scan.peek().isalpha():
        start = scan.pos
        word = scan.take_letters()
        factor = UNIT_SECONDS.get(word.lower())
        if factor is None:
            scan.pos = start
            raise scan.fail(f"unknown time unit {word!r}")
        return value * factor, True
    scan.pos = after_number
    return value, False


def parse_duration(text: str) -> float:
    """Return the number of seconds ``text`` stands for (``-1`` means "forever" to callers).

    Accepts what fail2ban's ``str2seconds`` accepts for time values: ``600``, ``2.5``,
    ``10m``, ``1d12h30m``, ``1d 12h``, ``1hour+30min``, ``1year-6mo``, ``-1``.
    Raises ValueError with the position of the first problem.
    """
    scan = _Scanner(text)
    scan.skip_space()
    if not scan.peek():
        raise scan.fail("empty value")
    total = 0.0
    sign = 1.0
    expect_term = True
    bare_number = False
    while True:
        spaced = scan.skip_space()
        char = scan.peek()
        if not char:
            if expect_term:
                raise scan.fail("expected a number after the sign")
            if not math.isfinite(total):
                # a float overflowed: no clock, store or firewall can hold this time
                raise ValueError(f"invalid time value {text!r}: too large")
            return total
        if char in "+-":
            scan.pos += 1
            sign = sign * (-1.0 if char == "-" else 1.0)
            expect_term = True
            continue
        if not (char.isdigit() or char == "."):
            raise scan.fail(f"unexpected {char!r}")
        if bare_number and not spaced and not expect_term:
            raise scan.fail("malformed number")
        value, has_unit = _term(scan)
        total += sign * value
        sign = 1.0
        expect_term = False
        bare_number = not has_unit
