"""``warden check`` on values it used to call OK although the daemon refused them or ran on
something else (issue 8, item 7): each is one ``file:line`` problem, and the usual spellings
of the same option stay accepted."""

from __future__ import annotations

import io
import pathlib

import pytest

from warden.cli.check import run_check

FILTER = "[Definition]\nfailregex = ^fail from <HOST>$\n"
JAIL = "[DEFAULT]\nfilter = demo\naction =\n"

# (option, values that must load, a value that must not, fragment of its message)
CASES = [
    ("enabled", ["true", "Yes", "1", "on"], "maybe", "enabled = 'maybe': not a truth value"),
    ("ignoreself", ["false", "no", "0", "OFF"], "perhaps", "not a truth value"),
    ("bantime.increment", ["true", ""], "sure", "not a truth value"),
    ("port", ["ssh", "http,https", "0:65535", "1000-2000, 22", "smtp,465,submission"],
     "99999,abc", "port: '99999,abc': '99999' is beyond 65535; 'abc' is not a port number"),
    ("port", ["domain,953"], "2000:1000", "the range '2000:1000' ends before it starts"),
    ("port", ["8080"], "22x", "'22x' is not a port number or range"),
    ("ignoreip", ["127.0.0.1/8 ::1", "2001:db8::/32, 192.0.2.7", "gw.example localhost"],
     "192.0.2.300", "ignoreip: '192.0.2.300': not an address, a network"),
    ("ignoreip", ["198.51.100.0/24"], "10.0.0.0/33 2001:db8::zz",
     "'10.0.0.0/33', '2001:db8::zz': not an address"),
    ("ignoreip", ["host-1.example.org"], "-dash.example", "'-dash.example': not an address"),
    ("ignoreip", ["10.0.0.0/8", "10.0.0.0/255.0.0.0", "2001:db8::/ffff:ffff::"],
     "10.0.0.0/255.0.255.0", "a netmask must be contiguous"),
    ("maxretry", ["1", "10"], "-5", "maxretry: must be at least 1, not -5"),
    ("maxmatches", ["0", "5"], "-1", "maxmatches: must not be negative, not -1"),
    ("usedns", ["yes", "No", "warn", "raw"], "sometimes", "usedns: must be one of"),
    ("ignorecache", ['key="<ip>", max-count=5, max-time=1m'], "size=3",
     "ignorecache: unknown ignorecache option(s): size"),
    ("bantime.formula", ["ban.Time * 2"], "__import__('os')",
     "bantime.formula: invalid bantime.formula"),
    ("backend", ["auto", "polling", "pyinotify"], "inotifyy",
     "backend: unknown backend 'inotifyy': use one of"),
    ("logencoding", ["utf-8", "latin-1", "auto"], "utf-16",
     "logencoding 'utf-16' does not write a newline as one byte"),
]


def _section(name: str, option: str, value: str) -> str:
    enabled = "" if option == "enabled" else "enabled = true\n"
    return f"[{name}]\n{enabled}logpath = /var/log/demo.log\n{option} = {value}\n\n"


@pytest.mark.parametrize(("option", "good", "bad", "fragment"), CASES,
                         ids=[f"{c[0]}={c[2]}" for c in CASES])
def test_a_bad_value_is_one_located_problem_and_good_ones_load(
        tmp_path: pathlib.Path, option: str, good: list[str], bad: str, fragment: str) -> None:
    (tmp_path / "filter.d").mkdir()
    (tmp_path / "filter.d" / "demo.conf").write_text(FILTER)
    (tmp_path / "jail.conf").write_text(JAIL)
    text = "".join(_section(f"fine{i}", option, value) for i, value in enumerate(good))
    line = text.count("\n") + (4 if option != "enabled" else 3)
    (tmp_path / "jail.local").write_text(text + _section("bad", option, bad))
    out, err = io.StringIO(), io.StringIO()
    code = run_check(tmp_path, out, err)
    problems = err.getvalue().splitlines()
    assert code == 2
    assert len(problems) == 2, problems  # the problem and the summary
    assert problems[0].startswith(f"{tmp_path}/jail.local:{line}: [bad] ")
    assert fragment in problems[0]
    assert "Traceback" not in err.getvalue()
