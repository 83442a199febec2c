"""``warden replay`` as a user runs it: warden's own configuration tree, real log files.

Recidive sees the replay's own ban lines (as it reads the daemon's log), several logs are
merged by time, ``.gz`` logs are read, ``--compare`` names the differences, and user errors are
one clear line with exit code 2.
"""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
import time
import zlib
from pathlib import Path

import pytest

T0 = time.mktime((2026, 11, 20, 8, 0, 0, 0, 0, -1))


def line(addr: str, at: float, user: str = "root") -> str:
    stamp = time.strftime("%b %d %H:%M:%S", time.localtime(at))
    pid = 1000 + zlib.crc32(f"{addr}{at}".encode()) % 60000
    return f"{stamp} host sshd[{pid}]: Failed password for {user} from {addr} port 2222 ssh2\n"


def burst(addr: str, at: float, count: int = 3) -> str:
    return "".join(line(addr, at + i) for i in range(count))


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    conf = tmp_path / "conf"
    subprocess.run([sys.executable, "-m", "warden", "init", "-c", str(conf)], check=True,
                   stdout=subprocess.DEVNULL)
    daemon_log = tmp_path / "warden.log"
    (conf / "warden.local").write_text(f"[Definition]\nlogtarget = {daemon_log}\n")
    (conf / "jail.local").write_text(
        "[DEFAULT]\nbackend = polling\nignoreself = false\n"
        f"[sshd]\nenabled = true\nlogpath = {tmp_path}/auth*.log\n"
        "maxretry = 3\nfindtime = 10m\nbantime = 1m\n"
        f"[recidive]\nenabled = true\nlogpath = {daemon_log}\nmaxretry = 2\nfindtime = 1d\n")
    return conf


def replay(conf: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "warden", "replay", *args, "-c", str(conf)],
                          capture_output=True, text=True, timeout=120, check=False)


def bans(done: subprocess.CompletedProcess[str]) -> list[tuple[str, str, float, float]]:
    assert done.returncode == 0, done.stderr
    return [(b["jail"], b["address"], b["time"], b["bantime"])
            for b in json.loads(done.stdout)["bans"]]


def test_recidive_reads_the_replays_own_ban_lines(tree: Path) -> None:
    log = tree.parent / "auth.log"
    # banned, unbanned a minute later, banned again an hour later: recidive's second
    log.write_text(burst("192.0.2.7", T0) + burst("192.0.2.7", T0 + 3600)
                   + burst("198.51.100.9", T0 + 7200))
    found = bans(replay(tree, str(log), "--json"))
    assert ("sshd", "192.0.2.7", T0 + 2, 60.0) in found
    assert ("sshd", "192.0.2.7", T0 + 3602, 60.0) in found
    assert ("recidive", "192.0.2.7", T0 + 3602, 7 * 86400.0) in found
    assert not [b for b in found if b[0] == "recidive" and b[1] == "198.51.100.9"]


def test_logs_are_merged_by_time_and_gz_is_read(tree: Path) -> None:
    first = tree.parent / "auth1.log"
    second = tree.parent / "auth2.log"
    # the failures of one address are spread over both files: counted together, in order
    first.write_text(line("2001:db8::5", T0) + line("2001:db8::5", T0 + 20))
    with gzip.open(second.with_suffix(".log.gz"), "wt") as out:
        out.write(line("2001:db8::5", T0 + 10))
    second.write_text("")
    found = bans(replay(tree, str(first), str(second.with_suffix(".log.gz")), "--jail", "sshd",
                        "--json"))
    # warden's sshd jail bans an IPv6 attacker's /64 (banprefix6)
    assert found == [("sshd", "2001:db8::/64", T0 + 20, 60.0)]


def test_since_until_and_compare(tree: Path, tmp_path: Path) -> None:
    log = tree.parent / "auth.log"
    log.write_text(burst("192.0.2.1", T0) + burst("192.0.2.2", T0 + 600, 2)
                   + burst("192.0.2.3", T0 + 1200))
    window = bans(replay(tree, str(log), "--json", "--since", str(T0 + 60),
                         "--until", time.strftime("%Y-%m-%dT%H:%M:%S",
                                                  time.localtime(T0 + 1500))))
    assert [b[1] for b in window] == ["192.0.2.3"]
    other = tmp_path / "other"
    subprocess.run(["cp", "-r", str(tree), str(other)], check=True)
    local = other / "jail.local"
    local.write_text(local.read_text().replace("maxretry = 3", "maxretry = 2"))
    done = replay(tree, str(log), "--compare", str(other))
    assert done.returncode == 0, done.stderr
    assert "+ " in done.stdout and "[sshd] 192.0.2.2 banned for 1m" in done.stdout
    assert "[sshd] 192.0.2.1 banned earlier" in done.stdout
    assert done.stdout.rstrip().endswith("2 earlier, 1 only-second")
    data = json.loads(replay(tree, str(log), "--compare", str(other), "--json").stdout)
    assert {(d["kind"], d["address"]) for d in data["differences"]} == {
        ("earlier", "192.0.2.1"), ("only-second", "192.0.2.2"), ("earlier", "192.0.2.3")}


def test_user_errors_are_one_line_and_exit_2(tree: Path) -> None:
    missing = replay(tree, str(tree.parent / "nope.log"))
    assert missing.returncode == 2
    assert missing.stderr.strip() == f"warden: {tree.parent / 'nope.log'}: no such file"
    stray = tree.parent / "other.log"
    stray.write_text(line("192.0.2.1", T0))
    unread = replay(tree, str(stray))
    assert unread.returncode == 2 and "no jail's logpath names this file" in unread.stderr
    unknown = replay(tree, str(stray), "--jail", "nosuch")
    assert unknown.returncode == 2 and "--jail nosuch: no such enabled jail" in unknown.stderr
    when = replay(tree, str(stray), "--jail", "sshd", "--since", "yesterday-ish")
    assert when.returncode == 2 and "not a time: 'yesterday-ish'" in when.stderr
    for done in (missing, unread, unknown, when):
        assert "Traceback" not in done.stderr and len(done.stderr.splitlines()) == 1
