"""The stock fail2ban tree's ``recidive`` jail, run by warden on warden's own log.

A real daemon runs the stock jail.conf, filter.d and action.d; its ``sshd`` jail bans an
address for two seconds, the address comes back after the unban and is banned again, and the
stock ``recidive`` jail (``logpath`` = the daemon's own log file, stock filter) reads those two
ban lines and bans the address for a week. The stock ``dummy`` action, given a target file,
records every ban there as fail2ban's does.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.e2e.harness import Server, append, failure_line, wait_for

STOCK = Path("/etc/fail2ban")
pytestmark = pytest.mark.skipif(not (STOCK / "filter.d" / "recidive.conf").is_file(),
                                reason="needs fail2ban's stock tree")


def _stock_server(root: Path, authlog: Path, dummy: Path) -> Server:
    server = Server(root, "")
    conf = server.conf
    for name in ("jail.conf", "paths-common.conf", "paths-debian.conf"):
        shutil.copy(STOCK / name, conf / name)
    for sub in ("filter.d", "action.d"):
        shutil.rmtree(conf / sub)
        shutil.copytree(STOCK / sub, conf / sub)
    # the stock dummy action, pointed at a file of the test's own
    (conf / "action.d" / "dummy.local").write_text(f"[Init]\ntarget = {dummy}\n")
    (conf / "jail.local").write_text(
        "[DEFAULT]\nbanaction = dummy\nbanaction_allports = dummy\nbackend = auto\n"
        "ignoreself = false\n\n"
        f"[sshd]\nenabled = true\nlogpath = {authlog}\nmaxretry = 1\nbantime = 2s\n\n"
        f"[recidive]\nenabled = true\nlogpath = {server.logfile}\nmaxretry = 2\n")
    return server


def test_stock_recidive_bans_a_repeat_offender_from_warden_log(
        tmp_path: Path, servers: list[Server]) -> None:
    authlog = tmp_path / "auth.log"
    authlog.touch()
    dummy = tmp_path / "dummy.bans"
    server = _stock_server(tmp_path, authlog, dummy)
    servers.append(server)
    server.start()
    offender = "192.0.2.44"

    append(authlog, failure_line(offender))
    wait_for("the first sshd ban", lambda: offender in server.banned("sshd"))
    wait_for("the sshd unban after 2 s", lambda: f"[sshd] Unban {offender}" in server.log_text(),
             timeout=15)
    assert offender not in server.banned("recidive")  # one ban is not a repeat
    append(authlog, failure_line(offender))
    ban = wait_for("the recidive ban", lambda: server.banned("recidive").get(offender),
                   timeout=15)
    assert ban.remaining is not None and ban.remaining > 6 * 86400  # the stock week

    log = server.log_text()
    # fail2ban's layout, which the stock filter's failregex reads
    assert f"fail2ban.actions        [{server.proc.pid if server.proc else 0}]: NOTICE  " \
           f"[sshd] Ban {offender}" in log
    assert log.count(f"[sshd] Ban {offender}") == 2
    assert log.count(f"[recidive] Ban {offender}") == 1
    if shutil.which("fail2ban-regex"):
        # fail2ban's own engine agrees: the two sshd bans, not recidive's, not the unban
        done = subprocess.run(("fail2ban-regex", str(server.logfile),
                               str(STOCK / "filter.d" / "recidive.conf")),
                              capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode == 0, done.stderr
        assert re.search(r"^Lines: \d+ lines, 0 ignored, 2 matched", done.stdout, re.M), \
            done.stdout
    # the stock dummy action's target: its init line per jail, then "+ADDR" / "-ADDR" lines
    # (sshd, sshd, then recidive), as fail2ban's shell commands write them
    # (on a slow machine the second sshd ban's 2 s may be over by now: its "-ADDR" then follows)
    written = dummy.read_text().split("\n")
    assert written[:6] == [
        "123", "123", f"+{offender}", f"-{offender}", f"+{offender}", f"+{offender}"]
    assert written[6:] in ([""], [f"-{offender}", ""])
    assert server.stop() == 0
    assert not dummy.exists()  # the stock actionstop removes it
