"""run_check: every problem on its own 'file:line: message' line, exit 0 or 2."""

from __future__ import annotations

import io
import pathlib
import shutil

import pytest

from warden.cli.check import run_check

STOCK = pathlib.Path("/etc/fail2ban")

FILTER = "[Definition]\nfailregex = ^fail from <HOST>$\n"
ACTION = "[Definition]\nactionban = ban <ip>\nactionunban = unban <ip>\n"
JAIL = """\
[DEFAULT]
bantime = 1h
action = demo
filter = %(__name__)s

[demo]
enabled = true
logpath = /var/log/demo.log
"""


def make_tree(root: pathlib.Path) -> pathlib.Path:
    (root / "filter.d").mkdir(parents=True)
    (root / "action.d").mkdir()
    (root / "filter.d" / "demo.conf").write_text(FILTER)
    (root / "action.d" / "demo.conf").write_text(ACTION)
    (root / "jail.conf").write_text(JAIL)
    return root


def check(root: pathlib.Path) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = run_check(root, out, err)
    return code, out.getvalue(), err.getvalue()


def test_valid_tree(tmp_path: pathlib.Path) -> None:
    code, out, err = check(make_tree(tmp_path))
    assert (code, err) == (0, "")
    assert "OK, 1 enabled jail(s) (demo)" in out


# (file to write, its text, expected 'file:line: message' fragment relative to the tree)
BROKEN = [
    ("jail.local", "[demo]\nthis is not an option\n", "jail.local:2: cannot parse line"),
    (
        "jail.local",
        "[INCLUDES]\nbefore = gone.conf\n",
        "jail.local:2: included file {root}/gone.conf does not exist",
    ),
    (
        "jail.local",
        "[demo]\nlogpath = %(nowhere)s\n",
        "jail.local:2: [demo] logpath: %(nowhere)s is not defined",
    ),
    (
        "jail.local",
        "[demo]\nlogpath = %(x)s\nx = %(logpath)s\n",
        "jail.local:2: [demo] logpath: %(...)s references nest deeper than 10 levels",
    ),
    (
        "jail.local",
        "[demo]\nfindtime = 10 minutes ago\n",
        "jail.local:2: [demo] findtime = '10 minutes ago': not a valid time value",
    ),
    (
        "jail.local",
        "[demo]\nfilter = sshd-typo\n",
        "jail.local:2: [demo] filter 'sshd-typo' not found",
    ),
    (
        "filter.d/demo.local",
        "[Definition]\nfailregex = ^(unclosed <HOST>$\n",
        "filter.d/demo.local:2: [demo] filter demo: failregex #1 does not compile",
    ),
    (
        "filter.d/demo.local",
        "[Definition]\nfailregex = ^ok <HOST>$\n  # note\n\n  ^(bad <HOST>$\n",
        "filter.d/demo.local:5: [demo] filter demo: failregex #2 does not compile",
    ),
    (
        "jail.local",
        "[demo]\nfailregex = %(known/failregex)s\n            ^[bad <HOST>$\n",
        "jail.local:3: [demo] filter demo: failregex #2 does not compile",
    ),
    ("jail.local", "[demo]\nlogtimezone = Mars/Olympus\n", "jail.local:2: [demo] logtimezone"),
    (
        "filter.d/demo.local",
        "[Definition]\ndatepattern = ^(broken %%Y\n",
        "filter.d/demo.local:2: [demo] date pattern '^(broken %Y' does not compile",
    ),
    (
        "jail.local",
        "[demo]\naction = demo\n         missing-action\n",
        "jail.local:2: [demo] action 'missing-action' not found",
    ),
]


@pytest.mark.parametrize(("name", "text", "expected"), BROKEN)
def test_problems_are_reported_with_file_and_line(
    tmp_path: pathlib.Path, name: str, text: str, expected: str
) -> None:
    root = make_tree(tmp_path)
    (root / name).write_text(text)
    code, out, err = check(root)
    assert code == 2
    assert out == ""
    lines = err.splitlines()
    assert f"{root}/{expected.format(root=root)}" in lines[0]
    assert lines[-1].endswith(f"problem(s) found in {root}")
    assert "Traceback" not in err


def test_every_problem_is_listed(tmp_path: pathlib.Path) -> None:
    root = make_tree(tmp_path)
    (root / "jail.local").write_text(
        "[demo]\nbantime = forever\nfindtime = soon\nmaxretry = x\n"
        "[second]\nenabled = true\nfilter = nope\n"
    )
    code, _, err = check(root)
    assert code == 2
    located = [line for line in err.splitlines() if line.startswith(f"{root}/jail.local:")]
    assert [line.split(":")[1] for line in located] == ["2", "3", "4", "7"]


def test_missing_directory(tmp_path: pathlib.Path) -> None:
    code, _, err = check(tmp_path / "absent")
    assert code == 2 and "does not exist" in err


@pytest.mark.skipif(not STOCK.is_dir(), reason="no /etc/fail2ban")
def test_stock_fail2ban_tree_is_valid() -> None:
    code, out, err = check(STOCK)
    assert (code, err) == (0, "")
    assert "sshd" in out


@pytest.mark.skipif(not STOCK.is_dir(), reason="no /etc/fail2ban")
def test_stock_tree_with_every_jail_enabled_is_valid(tmp_path: pathlib.Path) -> None:
    copy = tmp_path / "fail2ban"
    shutil.copytree(STOCK, copy)
    (copy / "jail.local").write_text("[DEFAULT]\nenabled = true\n")
    code, out, err = check(copy)
    assert (code, err) == (0, "")
    assert ", 0 disabled" in out
