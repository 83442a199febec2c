"""Differential test: generated lines and patterns, warden's DateDetector vs fail2ban's.

Covers what the corpus (one fixed "now", one zone) does not: year and day completion around
New Year and midnight, DST changes in several zones, explicit zones, logtimezone, epoch forms,
special pattern words, invalid dates, and template reordering on mixed formats. Lines are
generated from a fixed seed; each group (pattern, TZ, now) is fed in order to one detector on
each side. Skips without fail2ban (see test_dates_oracle).

Run directly for a report: ``python3 tests/core/test_dates_fuzz.py [-v]``.
"""

from __future__ import annotations

import calendar
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parents[2]))  # when run as a script
from tests.core.test_dates_oracle import (
    COMPAT,
    CORPUS_NOW,
    SYSTEM_PYTHON,
    fail2ban_available,
    local_tz,
)
from warden.core.datedetect import DateDetector

_ORACLE = r"""
import json, sys, os, time
sys.path.insert(0, sys.argv[1])
import f2b_engine as eng
eng.setup()
from fail2ban.server.mytime import MyTime
from fail2ban.server.filter import Filter
groups = json.load(sys.stdin)
out = []
for g in groups:
    os.environ["TZ"] = g["tz"]; time.tzset()
    MyTime.setAlternateNow(MyTime.alternateNowTime)  # its cached datetime is zone-dependent
    res = []
    try:
        flt = Filter(None)
        if g["logtz"] is not None:
            flt.setLogTimeZone(g["logtz"])
        if g["pattern"] is not None:
            flt.setDatePattern(g["pattern"])
        dd = flt.dateDetector
    except Exception as ex:
        out.append({"error": type(ex).__name__}); continue
    for line, now in g["lines"]:
        MyTime.setTime(now)
        try:
            m, tmpl = dd.matchTime(line)
            if m is None:
                res.append(None); continue
            s, e = m.start(1), m.end(1)
            t = None
            if s < e:
                r = dd.getTime(line[s:e], (m, tmpl))
                t = None if r is None else float(r[0])
            res.append([s, e, t])
        except Exception as ex:
            res.append(["error", type(ex).__name__])
    out.append({"results": res})
json.dump(out, sys.stdout)
"""

ZONES = [
    "CET-01CEST-02,M3.5.0,M10.5.0",
    "UTC",
    "America/New_York",
    "Australia/Lord_Howe",
    "Asia/Kathmandu",
]
PATTERNS: list[str | None] = [
    None,
    "{^LN-BEG}",
    "{DEFAULT}",
    "^%b %d %H:%M:%S",
    "%Y-%m-%d %H:%M:%S",
    "{^LN-BEG}%ExY-%Exm-%Exd %ExH:%ExM:%ExS",
    "%d/%b/%Y:%H:%M:%S %z",
    "%Y-%m-%dT%H:%M:%S%z",
    "%Y-%m-%d %H:%M:%S %Z",
    "%Y-%m-%d %H:%M:%S %Exz",
    "%Y-%m-%d %H:%M:%S %ExZ",
    "%b %d, %Y %I:%M:%S %p",
    "%A %B %d %Y %l:%M:%S %p",
    "%y%m%d %H:%M:%S",
    "%Y %j %H:%M:%S",
    "%Y %U %a %H:%M:%S",
    "%Y %W %w %H:%M:%S",
    "^%H:%M:%S",
    "%H:%M",
    "{UNB}%H:%M:%S",
    "**%H:%M:%S**",
    "(?i)%H:%M:%S",
    "{NONE}",
    "EPOCH",
    "^EPOCH",
    "LEPOCH",
    "{^LN-BEG}LEPOCH",
    "ts={EPOCH}",
    "ts={LEPOCH}",
    "TAI64N",
    "{^LN-BEG}TAI64N",
    "^<\\d+>\\d+\\s+{DATE}",
    "^[^\\[]*\\[({DATE})\n{^LN-BEG}",
    "{DATE}",
    "%c",
    "%x %X",
    "%ExY-%m-%d %k:%M:%S.%f",
    "%%%Y-%m-%d %H:%M:%S",
    "%%%b %d %H:%M:%S",
    "%b %d %H:%M:%S %Z",
    "%b %d %H:%M:%S %ExZ",
    "%b %d %H:%M:%S %Exz",
    "%b %d %H:%M:%S %z",
    "%b %d %H:%M:%S UTC",
    "[%b %d %H:%M:%S]",
    "%b %d %H:%M:%S\\x20",
    "(?i)%b %d %H:%M:%S",
]
LOG_TZS = [None, "UTC", "UTC+0200", "CEST", "EST-0030", "-0330"]
DAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
MONS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


def _nows() -> list[float]:
    stamps = [
        CORPUS_NOW,
        calendar.timegm((2025, 1, 1, 0, 30, 0)),  # just after New Year
        calendar.timegm((2024, 12, 31, 23, 10, 0)),
        calendar.timegm((2025, 3, 30, 1, 30, 0)),  # around CET spring forward
        calendar.timegm((2025, 10, 26, 0, 45, 0)),  # around CET fall back
        calendar.timegm((2025, 11, 2, 6, 15, 0)),  # around US fall back
        calendar.timegm((2024, 2, 29, 12, 0, 0)),  # leap day
        calendar.timegm((2026, 11, 27, 21, 31, 57)) + 0.75,
    ]
    return [float(s) for s in stamps]


def _render(rng: random.Random, now: float) -> str:
    """A line with a date near ``now`` in one of many formats, with some noise."""
    t = now + rng.choice([0, -1, 1, -59, 3600, -3600, 86400, -86400, 2 * 86400, -200 * 86400])
    t += rng.randint(-7200, 7200) if rng.random() < 0.5 else 0
    y, mo, d, h, mi, s, wd = time.gmtime(t)[:7]
    if rng.random() < 0.05:
        d = rng.choice([29, 30, 31])  # possibly invalid
    if rng.random() < 0.03:
        s = 60
    frac = f".{rng.randint(0, 999999):06d}"[: rng.choice([4, 7])]
    zone = rng.choice(
        ["", " +0200", " -05:00", " Z", " UTC", " CEST", " PST", " +01", " XYZ", " utc", " cest"]
    )
    b, a = MONS[mo - 1], DAYS[wd]
    i12 = h % 12 or 12
    ampm = "AM" if h < 12 else "PM"
    formats = [
        f"{b} {d:2d} {h:02d}:{mi:02d}:{s:02d}",
        f"{a} {b} {d:02d} {h:02d}:{mi:02d}:{s:02d} {y}",
        f"{y}-{mo:02d}-{d:02d}T{h:02d}:{mi:02d}:{s:02d}{frac}{zone.strip()}",
        f"{y}-{mo:02d}-{d:02d} {h:02d}:{mi:02d}:{s:02d}{zone}",
        f"[{d:02d}/{b}/{y}:{h:02d}:{mi:02d}:{s:02d}{zone or ' +0000'}]",
        f"{d:02d}/{mo:02d}/{y % 100:02d} {h:2d}:{mi:02d}:{s:02d}",
        f"{y % 100:02d}{mo:02d}{d:02d} {h:2d}:{mi:02d}:{s:02d}",
        f"{b} {d}, {y} {i12}:{mi:02d}:{s:02d} {ampm}",
        f"{h:02d}:{mi:02d}:{s:02d}",
        f"{int(t)}{frac if rng.random() < 0.5 else ''}",
        f"{int(t * 1000)}",
        f"@40000000{int(t) + 10:08x}{rng.randint(0, 2**31):08x}",
        f"{y}{mo:02d}{d:02d}T{h:02d}{mi:02d}{s:02d}{zone.strip()}",
        f"<13>1 {y}-{mo:02d}-{d:02d}T{h:02d}:{mi:02d}:{s:02d}Z",
        f"{y} {int(t) // 86400 % 365 + 1:03d} {h:02d}:{mi:02d}:{s:02d}",
        f"{y} {rng.randint(0, 53):02d} {a} {h:02d}:{mi:02d}:{s:02d}",
        f"{y} {rng.randint(0, 53):02d} {wd} {h:02d}:{mi:02d}:{s:02d}",
        f"{a} {b} {d:2d} {h:02d}:{mi:02d}:{s:02d} {y}".upper(),
        f"{mo:02d}/{d:02d}/{y % 100:02d} {h:02d}:{mi:02d}:{s:02d}",
    ]
    date = rng.choice(formats)
    if rng.random() < 0.15:  # case games: IGNORECASE also folds K (Kelvin), long s, dotted I
        swap = {"s": "\u017f", "k": "\u212a", "i": "\u0131", "I": "\u0130", "S": "s", "a": "A"}
        date = "".join(swap.get(c, c) if rng.random() < 0.5 else c for c in date)
    prefix = rng.choice(["", "", "host ", "[", "x 12:00:00 ", "audit(", "ts=", "%"])
    suffix = rng.choice(
        ["", " sshd[123]: Failed password", "] GET /", ":123): avc", " 10:11:12 late"]
    )
    return prefix + date + suffix


# Rough local offsets of ZONES, to write wall-clock-like syslog stamps in streams.
_SHIFTS = [3600, 0, -18000, 37800, 20700]


def _streams(rng: random.Random) -> list[dict[str, Any]]:
    """Syslog-like streams: 3 hours of lines around each interesting now, in time order, with
    now just after each line (live) or fixed (replay); exercises the conversion cache."""
    groups = []
    for tz, shift in zip(ZONES, _SHIFTS, strict=True):
        for start in _nows():
            live = rng.random() < 0.5
            t = start - 7200
            lines = []
            while t < start + 3600:
                y, mo, d, h, mi, s = time.gmtime(t + shift)[:6]
                text = f"{MONS[mo - 1]} {d:2d} {h:02d}:{mi:02d}:{s:02d} host sshd[1]: msg"
                if rng.random() < 0.1:
                    text = f"{y}-{mo:02d}-{d:02d} {h:02d}:{mi:02d}:{s:02d} other format"
                lines.append((text, t + rng.randint(0, 3) if live else start))
                t += rng.randint(0, 40)
            pattern = rng.choice([None, "{^LN-BEG}", "^%b %d %H:%M:%S"])
            groups.append({"pattern": pattern, "tz": tz, "logtz": None, "lines": lines})
    return groups


_PIECES = [
    "%Y", "%ExY", "%y", "%Exy", "%m", "%Exm", "%d", "%Exd", "%b", "%B", "%a", "%H", "%ExH",
    "%k", "%l", "%I", "%M", "%ExM", "%S", "%ExS", "%f", "%p", "%z", "%Z", "%Exz", "%j",
    "-", "/", ":", " ", "T", ", ", "(?:", ")?", "\\s+", "\\d+", "[", "]",
]  # fmt: skip
_WRAPS = ["", "", "^", "{^LN-BEG}", "{UNB}", "**", "(?:ts=)?", "^\\S+ "]
_ENDS = ["", "", "$", "**", "\\b", "\\s", " "]


def _random_pattern(rng: random.Random) -> str:
    """A random (often odd, sometimes invalid) datepattern line."""
    body = "".join(rng.choice(_PIECES) for _ in range(rng.randint(1, 7)))
    return rng.choice(_WRAPS) + body + rng.choice(_ENDS)


_SAMPLES = {
    "%Y": ["2026", "2013", "1999"], "%ExY": ["2025", "2031"], "%y": ["26", "05"],
    "%Exy": ["26", "13"], "%m": ["11", "1", "13"], "%Exm": ["11", "02"], "%d": ["27", " 7", "31"],
    "%Exd": ["27", "30"], "%b": ["Nov", "feb", "XYZ"], "%B": ["November", "MAY"],
    "%a": ["Fri", "sun"], "%H": ["21", "9", "24"], "%ExH": ["21", "07"], "%k": [" 9", "21"],
    "%l": [" 9", "12"], "%I": ["09", "12", "13"], "%M": ["31", "5"], "%ExM": ["31", "59"],
    "%S": ["57", "60", "5"], "%ExS": ["57", "61"], "%f": ["123", "123456"], "%p": ["PM", "am"],
    "%z": ["+0100", "Z", "-05:30"], "%Z": ["CET", "UTC", "XYZ"], "%Exz": ["CET+01", "PST"],
    "%j": ["331", "060"], "(?:": [""], ")?": [""], "\\s+": [" ", "  "], "\\d+": ["42"],
    "[": [""], "]": [""],
}  # fmt: skip


def _fill(pattern: str, rng: random.Random) -> str:
    """A line that may match ``pattern``: directives and regex bits replaced by sample text."""
    for marker in ("{^LN-BEG}", "{UNB}", "**", "^\\S+ ", "(?:ts=)?", "$", "\\b", "\\s", "^"):
        pattern = pattern.replace(
            marker, rng.choice(["", "host ", " "]) if marker[0] == "^" else ""
        )
    for key in sorted(_SAMPLES, key=len, reverse=True):
        while key in pattern:
            pattern = pattern.replace(key, rng.choice(_SAMPLES[key]), 1)
    return rng.choice(["", "x ", "["]) + pattern + rng.choice(["", " sshd: x", "]"])


def build_groups(seed: int = 2026, per_group: int = 12) -> list[dict[str, Any]]:
    """Groups of (pattern, zone, logtimezone, [(line, now)...]) from a fixed seed."""
    rng = random.Random(seed)
    groups = _streams(rng)
    nows = _nows()
    patterns = PATTERNS + [_random_pattern(rng) for _ in range(60)]
    for pattern in patterns:
        for tz in ZONES:
            logtz = rng.choice(LOG_TZS) if rng.random() < 0.4 else None
            # One now per group: template reordering looks at how long ago (in `now` terms)
            # a template was used, fail2ban at its real clock, which barely moves in a test.
            now = rng.choice(nows)
            lines = [(_render(rng, now), now) for _ in range(per_group)]
            if pattern is not None and pattern not in PATTERNS:  # a random one: fit lines to it
                lines = [(_fill(pattern, rng), now) if i % 2 else ln for i, ln in enumerate(lines)]
            groups.append({"pattern": pattern, "tz": tz, "logtz": logtz, "lines": lines})
    return groups


def run_fail2ban(groups: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """fail2ban's results per group."""
    proc = subprocess.run(
        [SYSTEM_PYTHON, "-c", _ORACLE, str(COMPAT)],
        input=json.dumps(groups),
        capture_output=True,
        text=True,
        check=True,
        env=dict(os.environ),
    )
    result: list[dict[str, Any]] = json.loads(proc.stdout)
    return result


def run_warden(group: dict[str, Any]) -> dict[str, Any]:
    """warden's results for one group (same shape as fail2ban's)."""
    with local_tz(group["tz"]):
        try:
            dd = DateDetector(group["pattern"], default_tz=group["logtz"], now=CORPUS_NOW)
        except Exception as ex:
            return {"error": type(ex).__name__}
        res: list[Any] = []
        for line, now in group["lines"]:
            m = dd.match(line, now)
            res.append(None if m is None else [m.start, m.end, m.time])
    return {"results": res}


def _same_wall_time(a: Any, b: Any, tz: str) -> bool:
    """Both read the same local wall time that occurs twice (clocks going back): fail2ban's
    pick depends on glibc mktime's previous call, warden takes the first occurrence."""
    if a is None or b is None or a[:2] != b[:2] or None in (a[2], b[2]) or a[2] == b[2]:
        return False
    with local_tz(tz):
        return bool(time.localtime(a[2])[:6] == time.localtime(b[2])[:6])


def compare(seed: int = 2026, per_group: int = 12) -> tuple[int, int, list[str]]:
    """(agreeing lines, lines, disagreements) over the generated groups."""
    groups = build_groups(seed, per_group)
    expected = run_fail2ban(groups)
    agree = total = 0
    diffs = []
    for g, ref in zip(groups, expected, strict=True):
        got = run_warden(g)
        # warden rejects a pattern that fail2ban accepts and then fails on at every line.
        if (
            "error" in got
            and "error" not in ref
            and all(r is not None and r[0] == "error" for r in ref["results"])
        ):
            ref = {"error": "at match time"}
        if "error" in ref or "error" in got:
            total += 1
            if ("error" in ref) == ("error" in got):
                agree += 1
            else:
                diffs.append(f"{g['pattern']!r} logtz={g['logtz']}: warden {got} f2b {ref}")
            continue
        for (line, now), a, b in zip(g["lines"], got["results"], ref["results"], strict=True):
            total += 1
            if b is not None and b[0] == "error":
                agree += 1  # fail2ban crashed on the line; warden must just not crash
                continue
            if a == b or _same_wall_time(a, b, g["tz"]):
                agree += 1
            else:
                diffs.append(
                    f"{g['pattern']!r} TZ={g['tz']} logtz={g['logtz']} now={now}\n"
                    f"   {line!r}\n   warden {a}\n   f2b    {b}"
                )
    return agree, total, diffs


@pytest.mark.slow
@pytest.mark.skipif(not fail2ban_available(), reason="fail2ban not importable by /usr/bin/python3")
@pytest.mark.parametrize("seed", [1, 2026])
def test_generated_dates_identical_to_fail2ban(seed: int) -> None:
    agree, total, diffs = compare(seed)
    assert not diffs, f"{agree}/{total} agree; first: " + "\n".join(diffs[:10])


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if a != "-v"]
    a, n, d = compare(int(args[0]) if args else 2026, int(args[1]) if len(args) > 1 else 12)
    for text in d[: None if "-v" in sys.argv else 15]:
        print(text)
    print(f"dates: {a}/{n} generated lines identical to fail2ban")
