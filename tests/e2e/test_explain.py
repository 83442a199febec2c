"""``warden explain`` and the matched lines of bans (dbmaxmatches) against the real daemon.

The daemon follows a log; an address is banned after three failures, another has two. The
explanation names the ban, the arithmetic of its time, each matched line with the failregex
that matched it, and how far the other address is from a ban. After a restart the matched
lines are still there (the store kept them), and the command action that bans the restored
address again gets them as ``<matches>``, as fail2ban's restored tickets do.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.harness import Server, append, failure_line, wait_for

pytestmark = pytest.mark.skipif(not Path("/etc/fail2ban/filter.d/sshd.conf").exists(),
                                reason="needs fail2ban's sshd filter")

BANNED = "192.0.2.50"
CLOSE = "2001:db8::51"


def _explain(server: Server, addr: str) -> dict[str, Any]:
    done = server.cli("explain", addr, "--json")
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert isinstance(answer, dict)
    return answer


def _read(path: Path) -> str:
    return path.read_text() if path.exists() else ""


def test_explain_and_matched_lines_survive_a_restart(tmp_path: Path,
                                                     servers: list[Server]) -> None:
    log = tmp_path / "auth.log"
    log.touch()
    record = tmp_path / "record.txt"
    jail = (f"[sshd]\nenabled = true\nfilter = sshd\nlogpath = {log}\nbantime = 1h\n"
            "maxretry = 3\nbantime.increment = true\nbantime.factor = 2\n"
            "ignoreip = 198.51.100.0/24\naction = record\n")
    server = Server(tmp_path, jail, settings="dbmaxmatches = 2\n")
    servers.append(server)
    (server.conf / "action.d" / "record.conf").write_text(
        "[Definition]\nactionstart =\nactionstop =\n"
        "actionban = printf 'ban %%s restored=%%s\\n%%s\\n' <ip> <restored> <matches> >> <file>\n"
        "actionunban =\n"
        f"[Init]\nfile = {record}\n")
    server.start()
    lines = [failure_line(BANNED, user=f"user{i}") for i in range(3)]
    append(log, "".join(lines) + failure_line(CLOSE) * 2)
    wait_for("the ban", lambda: BANNED in server.banned())
    wait_for("the close one's failures", lambda: server.status("sshd").total_failed == 5)

    answer = _explain(server, BANNED)
    assert answer["addr"] == BANNED
    (sshd,) = answer["jails"]
    assert (sshd["jail"], sshd["banned"], sshd["count"], sshd["bantime"]) == (
        "sshd", True, 1, 3600.0)
    assert sshd["rule"] == "first ban" and sshd["until"] - sshd["start"] == 3600.0
    # the next ban: the default formula doubles per earlier ban, times bantime.factor
    assert sshd["next_bantime"] == 3600.0 * 2 * 2
    assert any("2**1" in step for step in sshd["next_steps"])
    # dbmaxmatches = 2: the latest two lines, each with the failregex that matched it
    assert [m["line"] for m in sshd["matches"]] == [x.rstrip("\n") for x in lines[1:]]
    for m in sshd["matches"]:
        assert m["regex"] is not None and m["pattern"] and m["filter"] == 0
        assert abs(m["time"] - sshd["start"]) < 5
    rules = {r["rule"]: (r["ignores"], r["detail"]) for r in sshd["ignore"]}
    assert rules["ignoreip"] == (False, "no entry covers it (1 entries)")
    assert rules["ignoreself"][0] is False and rules["ignorecommand"] == (False, "not set")

    close = _explain(server, CLOSE)["jails"][0]
    assert (close["banned"], close["failures"], close["maxretry"]) == (False, 2, 3)
    assert close["matches"] == []
    text = server.cli("explain", CLOSE).stdout
    assert "not banned: 2 failure(s)" in text and "1 more ban it (maxretry 3)" in text
    assert _explain(server, "203.0.113.9")["jails"] == []
    refused = server.cli("explain", "not-an-address")
    assert refused.returncode == 2 and "not an IP address" in refused.stderr

    assert server.stop() == 0
    server.start()
    again = _explain(server, BANNED)["jails"][0]
    assert again["banned"] is True
    assert [m["line"] for m in again["matches"]] == [m["line"] for m in sshd["matches"]]
    banned = json.loads(server.cli("banned", BANNED, "--json").stdout)
    assert [b["matches"] for b in banned["bans"]] == [[m["line"] for m in sshd["matches"]]]
    text = server.cli("explain", BANNED).stdout
    assert "banned since" in text and "failregex " in text and "user2" in text
    # the restored ban's action saw the stored lines as <matches>
    wait_for("the restored ban's action", lambda: "restored=1" in _read(record))
    restored = _read(record).split("restored=1", 1)[1]
    assert "user1" in restored and "user2" in restored and "user0" not in restored


def test_an_address_inside_a_banned_network(tmp_path: Path, servers: list[Server]) -> None:
    log = tmp_path / "auth.log"
    log.touch()
    jail = (f"[sshd]\nenabled = true\nfilter = sshd\nlogpath = {log}\nbantime = 1h\n"
            "maxretry = 3\nbanprefix6 = 64\n")
    server = Server(tmp_path, jail)
    servers.append(server)
    server.start()
    # an attacker rotating through its /64: banned as the /64
    append(log, "".join(failure_line(f"2001:db8:5::{n}") for n in (1, 2, 3)))
    wait_for("the /64 ban", lambda: "2001:db8:5::/64" in server.banned())
    for asked in ("2001:db8:5::99", "2001:db8:5::/64"):
        (sshd,) = _explain(server, asked)["jails"]
        assert (sshd["banned"], sshd["count"], sshd["bantime"]) == (True, 1, 3600.0)
        assert [m["line"].split(" from ")[1].split()[0] for m in sshd["matches"]] == [
            "2001:db8:5::1", "2001:db8:5::2", "2001:db8:5::3"]
    assert _explain(server, "2001:db8:6::1")["jails"] == []
