"""parse_duration: fail2ban's time values, without eval."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from warden.core.duration import parse_duration

DAY = 86400
MONTH = 365.25 * DAY / 12
YEAR = 365.25 * DAY

VALID = [
    ("600", 600),
    ("2.5", 2.5),
    (".5", 0.5),
    ("-1", -1),
    ("0", 0),
    ("10m", 600),
    ("10M", 600),
    ("10 m", 600),
    ("1h", 3600),
    ("1d12h30m", DAY + 12 * 3600 + 1800),
    ("1d 12h", DAY + 12 * 3600),
    ("0d 1h 30m", 5400),
    ("1w", 7 * DAY),
    ("1mo", MONTH),
    ("1mon", MONTH),
    ("6 months", 6 * MONTH),
    ("1y", YEAR),
    ("1year-6mo", YEAR - 6 * MONTH),
    ("1hour+30min", 5400),
    ("2 days", 2 * DAY),
    ("1week", 7 * DAY),
    ("30sec", 30),
    ("30seconds", 30),
    ("5 minutes", 300),
    ("1h30", 3630),
    ("1 30", 31),
    ("1.5h", 5400),
    ("  48h  ", 48 * 3600),
    ("1dd", DAY),
    ("2ww", 14 * DAY),
    ("3ss", 3),
    ("1 d 2 h", DAY + 7200),
    ("99999999999999", 99999999999999),
    ("100y", 100 * 365.25 * DAY),
]

INVALID = [
    ("", "empty value"),
    ("   ", "empty value"),
    ("abc", "unexpected 'a'"),
    ("1x", "unknown time unit 'x'"),
    ("1ms", "unknown time unit 'ms'"),
    ("5-", "expected a number after the sign"),
    ("1.5.3", "malformed number"),
    ("1h*2", "unexpected '*'"),
    ("__import__('os')", "unexpected '_'"),
    ("10m;", "unexpected ';'"),
    ("9" * 400, "too large"),
    ("1" + "0" * 306 + "y", "too large"),
    ("9" * 400 + "-" + "9" * 400, "too large"),
]


@pytest.mark.parametrize(("text", "seconds"), VALID)
def test_valid(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize(("text", "message"), INVALID)
def test_invalid(text: str, message: str) -> None:
    with pytest.raises(ValueError, match="invalid time value") as info:
        parse_duration(text)
    assert message in str(info.value)


def test_returns_float() -> None:
    assert isinstance(parse_duration("10"), float)


def test_agrees_with_fail2ban() -> None:
    """Every valid case gives what fail2ban's str2seconds gives (when fail2ban is installed)."""
    if not os.path.exists("/usr/bin/python3"):
        pytest.skip("no system python")
    script = (
        "import json,sys\n"
        "from fail2ban.server.mytime import MyTime\n"
        "print(json.dumps([float(MyTime.str2seconds(t)) for t in json.load(sys.stdin)]))\n"
    )
    texts = [text for text, _ in VALID]
    done = subprocess.run(
        ["/usr/bin/python3", "-c", script],
        input=json.dumps(texts),
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip("fail2ban not importable")
    for text, expected in zip(texts, json.loads(done.stdout), strict=True):
        assert parse_duration(text) == pytest.approx(expected), text
