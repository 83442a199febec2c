"""``warden replay`` on the daemon's own input gives exactly the bans the daemon made.

The real daemon (``warden server -f``) follows a log while failures are written to it, with
a short ban time and ``bantime.increment`` so that one address is banned, unbanned and
banned again for longer; then the log is replayed offline with the same configuration and
the bans (jail, address, start, ban time, count) are compared with the daemon's history in
its state database. A second check: the replay left that database alone.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.harness import Server, append, failure_line, wait_for

pytestmark = pytest.mark.skipif(not Path("/etc/fail2ban/filter.d/sshd.conf").exists(),
                                reason="needs fail2ban's sshd filter")


def _history(db: Path) -> list[tuple[str, str, float, float, int]]:
    conn = sqlite3.connect(db)
    try:
        rows = conn.execute("SELECT jail, addr, start, bantime, count FROM history "
                            "ORDER BY start, addr").fetchall()
    finally:
        conn.close()
    return [(str(j), str(a), float(s), float(b), int(c)) for j, a, s, b, c in rows]


def test_replay_of_the_daemons_input_gives_its_bans(tmp_path: Path,
                                                     servers: list[Server]) -> None:
    log = tmp_path / "auth.log"
    log.touch()
    jail = (f"[sshd]\nenabled = true\nfilter = sshd\nlogpath = {log}\nbantime = 2\n"
            "findtime = 1h\nmaxretry = 3\nbantime.increment = true\nbantime.maxtime = 1h\n")
    server = Server(tmp_path, jail)
    servers.append(server)
    server.start()
    # two addresses banned at once, one with a failure too few, then a repeat offender
    append(log, "".join(failure_line(a) for a in ("192.0.2.10", "2001:db8::10") * 3))
    append(log, "".join(failure_line("198.51.100.3") for _ in range(2)))
    wait_for("the first bans", lambda: len(server.banned()) == 2)
    wait_for("the unbans", lambda: not server.banned(), timeout=8)
    append(log, "".join(failure_line("192.0.2.10") for _ in range(3)))
    again = wait_for("the second ban", lambda: server.banned().get("192.0.2.10"))
    assert again.count == 2
    assert server.stop() == 0
    made = _history(server.db)
    assert {(a, c) for _j, a, _s, _b, c in made} == {
        ("192.0.2.10", 1), ("2001:db8::10", 1), ("192.0.2.10", 2)}
    before = server.db.stat().st_mtime_ns, server.db.stat().st_size

    done = subprocess.run(
        [sys.executable, "-m", "warden", "replay", str(log), "-c", str(server.conf), "--json"],
        capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    replayed = sorted((b["jail"], b["address"], float(b["time"]), float(b["bantime"]),
                       int(b["count"])) for b in result["bans"] if not b["prolonged"])
    assert replayed == sorted(made)
    # the second ban of the repeat offender doubled, in the replay as in the daemon
    assert [b for b in replayed if b[1] == "192.0.2.10"][1][3] == 4.0
    (sshd,) = result["jails"]
    assert (sshd["jail"], sshd["bans"], sshd["addresses"]) == ("sshd", 3, 2)
    assert sshd["failures"] == 3 + 3 + 2 + 3
    assert (server.db.stat().st_mtime_ns, server.db.stat().st_size) == before
