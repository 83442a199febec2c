"""The human summary of ``warden regex``: fail2ban-regex's ``Lines:`` line and honest notes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.cli.crafted import SSHD_FAST, START, write_filter
from warden.cli.main import main

LOG = """\
Jan  1 00:00:01 host sshd[1]: pam_unix(sshd:auth): authentication failure; rhost=192.0.2.1
Jan  1 00:00:02 host sshd[1]: Failed password for bob from 192.0.2.1 port 22 ssh2
host sshd[2]: Invalid user x from 192.0.2.2 port 1
# a comment, not counted

Jan  1 00:00:03 host sshd[3]: Server listening on 0.0.0.0 port 22.
Jan  1 00:00:04 host sshd[4]: Failed password for bob from 192.0.2.99 port 22 ssh2
"""


def test_summary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log = tmp_path / "a.log"
    log.write_text(LOG, encoding="utf-8")
    flt = write_filter(tmp_path, "f", SSHD_FAST)
    assert main(["regex", str(log), str(flt), "--now", str(START + 10**7),
                 "--print-missed"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^Lines: 5 lines, 2 ignored, 2 matched, 1 missed$", out, re.M)
    assert "  [1] lines without a date" in out
    assert "(ignored: a failregex matched" in out
    assert re.search(r"^  +1\) \[2\] \^Failed password", out, re.M)
    assert re.search(r"^  +1\) \[1\] from 192", out, re.M)  # the ignoreregex
    assert out.split("Missed line(s):\n")[1].strip() == LOG.splitlines()[5]
    assert re.search(r"^\[processed in [\d.]+ sec, [\d,]+ lines/s\]$", out, re.M)
