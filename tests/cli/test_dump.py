"""``warden dump`` beside ``fail2ban-client -d`` on the same trees: the same command stream,
line for line, except that warden writes durations in seconds (fail2ban repeats the text)."""

from __future__ import annotations

import ast
import io
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from warden.cli.dump import run_dump
from warden.core.duration import parse_duration

STOCK = Path("/etc/fail2ban")
CLIENT = shutil.which("fail2ban-client")

pytestmark = pytest.mark.skipif(CLIENT is None or not (STOCK / "jail.conf").exists(),
                                reason="needs Debian's fail2ban package")

LOCAL = """[DEFAULT]
bantime.increment = true
ignoreip = 127.0.0.1/8 ::1
[sshd]
enabled = true
backend = polling
logpath = {log}
[nginx-http-auth]
enabled = true
logpath = {log}
action = iptables-multiport[name=web, port="http,https"]
         sendmail-whois[dest=root]
"""


def _lines(text: str) -> list[list[object]]:
    return [ast.literal_eval(line) for line in text.splitlines() if line.startswith("[")]


def _same(ours: list[object], theirs: list[object]) -> bool:
    if ours == theirs:
        return True
    # durations: warden's seconds for fail2ban's text
    return (len(ours) == 4 and ours[:3] == theirs[:3] and ours[2] in ("findtime", "bantime")
            and isinstance(theirs[3], str) and parse_duration(theirs[3]) == ours[3])


@pytest.mark.parametrize("local", [None, LOCAL])
def test_the_stream_matches_fail2ban_client_d(tmp_path: Path, local: str | None) -> None:
    tree = tmp_path / "fail2ban"
    shutil.copytree(STOCK, tree)
    log = tmp_path / "auth.log"
    log.touch()
    if local is not None:
        (tree / "jail.local").write_text(local.format(log=log))
    assert CLIENT is not None
    theirs = _lines(subprocess.run([CLIENT, "-c", str(tree), "-d"], capture_output=True,
                                   text=True, timeout=60, check=True).stdout)
    done = subprocess.run([sys.executable, "-m", "warden", "dump", "-c", str(tree)],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    ours = _lines(done.stdout)
    assert len(theirs) > 15 and len(ours) == len(theirs)
    for mine, fail2bans in zip(ours, theirs, strict=True):
        assert _same(mine, fail2bans), (mine, fail2bans)


def test_a_broken_tree_is_reported_with_file_and_line(tmp_path: Path) -> None:
    tree = tmp_path / "fail2ban"
    shutil.copytree(STOCK, tree)
    (tree / "jail.local").write_text("[sshd]\nenabled = true\nmaxretry = many\n")
    out, err = io.StringIO(), io.StringIO()
    assert run_dump(tree, out, err) == 2
    assert "jail.local:3" in err.getvalue() and "Traceback" not in err.getvalue()
