"""The SYSLOG log target through a real rsyslog: the stock recidive filter reads its ban lines.

fail2ban tags its syslog messages with the logger name (``fail2ban.actions[pid]``), and the
stock ``recidive`` filter expects that tag in a syslog file. warden's ban and unban lines carry
the same tag; its other lines are tagged ``warden``. A private rsyslogd (its own socket, work
directory and output file, never the system's) writes the file that both warden's engine and
the real ``fail2ban-regex`` then read with the stock filter (``tests.e2e.sshd.syslog_daemon``).
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from tests.e2e.sshd import syslog_daemon
from warden.config import load_filter
from warden.core.filter import Filter
from warden.daemon.logtarget import NOTICE, setup_logging

STOCK = Path("/etc/fail2ban")
pytestmark = [
    pytest.mark.skipif(shutil.which("rsyslogd") is None, reason="needs rsyslog"),
    pytest.mark.skipif(not (STOCK / "filter.d" / "recidive.conf").is_file(),
                       reason="needs fail2ban's stock tree"),
]


def _wait_lines(path: Path, count: int) -> list[str]:
    deadline = time.monotonic() + 10
    while True:
        lines = path.read_text().splitlines() if path.exists() else []
        if len(lines) >= count or time.monotonic() > deadline:
            return lines
        time.sleep(0.05)


def _log_bans(sock: Path) -> None:
    target = setup_logging("SYSLOG", logging.INFO, syslogsocket=str(sock))
    try:
        actions = logging.getLogger("warden.actions")  # the runtime's ban and unban lines
        actions.log(NOTICE, "[sshd] Ban 192.0.2.1")
        actions.log(NOTICE, "[sshd] Unban 192.0.2.1")
        actions.log(NOTICE, "[recidive] Ban 192.0.2.2")  # recidive never counts its own bans
        logging.getLogger("warden.jail").info("[sshd] Found 192.0.2.4")
        actions.log(NOTICE, "[postfix] Ban 2001:db8::5")
    finally:
        target.close()


def test_stock_recidive_reads_warden_ban_lines_from_syslog(tmp_path: Path) -> None:
    with syslog_daemon(tmp_path) as (sock, out):
        _log_bans(sock)
        lines = _wait_lines(out, 5)
    assert len(lines) == 5, lines
    assert lines[0].endswith(f" fail2ban.actions[{os.getpid()}]: NOTICE [sshd] Ban 192.0.2.1")
    assert f" warden[{os.getpid()}]: INFO [sshd] Found 192.0.2.4" in lines[3]

    recidive = Filter(load_filter(STOCK, "recidive", backend="auto"))
    found = [f.fid for line in lines for f in recidive.process(line, time.time()).failures]
    assert found == ["192.0.2.1", "2001:db8::5"]

    if shutil.which("fail2ban-regex"):  # the reference reads the same file the same way
        result = subprocess.run(
            ["fail2ban-regex", str(out), str(STOCK / "filter.d" / "recidive.conf")],
            capture_output=True, text=True, timeout=120, check=True)
        assert "Lines: 5 lines, 0 ignored, 2 matched, 3 missed" in result.stdout
