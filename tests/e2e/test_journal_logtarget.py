"""``logtarget = SYSTEMD-JOURNAL``: a real daemon logs to a real systemd-journald.

journald runs in a mount namespace of the test's own (tmpfs over /run and /var/log/journal,
so the host's journal is never touched); the daemon runs in the same namespace, bans an
address, and ``journalctl`` reads the entries back: the ban line is a ``notice`` (priority 5)
of identifier ``warden``, and no file named ``SYSTEMD-JOURNAL`` appears anywhere.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

JOURNALD = next((p for p in ("/lib/systemd/systemd-journald",
                             "/usr/lib/systemd/systemd-journald") if os.path.exists(p)), None)
ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(
    JOURNALD is None or not shutil.which("journalctl") or not shutil.which("unshare")
    or os.geteuid() != 0 or not Path("/etc/fail2ban/filter.d/sshd.conf").exists(),
    reason="needs root, systemd-journald, journalctl, unshare and fail2ban's sshd filter")

# Runs inside the private mount namespace: journald, then the daemon; prints journalctl's
# JSON entries. Every process it starts it ends by pid.
_SCENARIO = r"""
import os, subprocess, sys, time
from pathlib import Path
from tests.e2e.harness import Server, append, failure_line, wait_for

journald, root = sys.argv[1], Path(sys.argv[2])
for where in ("/run", "/var/log/journal"):
    if os.path.isdir(where):
        subprocess.run(("mount", "-t", "tmpfs", "tmpfs", where), check=True)
os.makedirs("/run/systemd/journal", exist_ok=True)
jd = subprocess.Popen((journald,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
server = None
try:
    wait_for("journald's socket", lambda: os.path.exists("/run/systemd/journal/socket"))
    log = root / "auth.log"
    log.touch()
    server = Server(root, f"[sshd]\nenabled = true\nfilter = sshd\nlogpath = {log}\n"
                          "maxretry = 1\n")
    # the harness names a log file; the last --logtarget wins
    server.start("--logtarget", "SYSTEMD-JOURNAL")
    append(log, failure_line("192.0.2.61"))
    wait_for("the ban", lambda: "192.0.2.61" in server.banned("sshd"))
    assert server.stop() == 0
    server = None
    def entries():
        out = subprocess.run(("journalctl", "-D", "/run/log/journal", "-o", "json",
                              "--no-pager", "SYSLOG_IDENTIFIER=warden"),
                             capture_output=True, text=True).stdout
        return out if "Server stopped" in out else None
    sys.stdout.write(wait_for("the entries in the journal", entries))
finally:
    if server is not None:
        server.close()
    jd.terminate()
    jd.wait(10)
"""


def test_daemon_logs_to_a_real_journal(tmp_path: Path) -> None:
    assert JOURNALD is not None
    done = subprocess.run(
        ("unshare", "-m", "--propagation", "private", sys.executable, "-c", _SCENARIO,
         JOURNALD, str(tmp_path)),
        cwd=tmp_path, env={**os.environ, "PYTHONPATH": os.pathsep.join(
            p for p in (os.environ.get("PYTHONPATH"), str(ROOT)) if p)}, capture_output=True,
        text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    entries = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    ban = [e for e in entries if e["MESSAGE"] == "[sshd] Ban 192.0.2.61"]
    assert len(ban) == 1, [e["MESSAGE"] for e in entries]
    assert (ban[0]["PRIORITY"], ban[0]["LOGGER"]) == ("5", "warden.actions")
    assert ban[0]["SYSLOG_PID"] == ban[0]["_PID"]  # sent by the daemon itself
    assert any(e["MESSAGE"].startswith("Server ready") and e["PRIORITY"] == "6"
               for e in entries)
    assert not list(tmp_path.rglob("SYSTEMD-JOURNAL"))
