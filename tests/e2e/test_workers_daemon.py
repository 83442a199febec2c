"""``workers = 2``, end to end: the daemon started as users start it runs its two jails'
filters in two child processes, bans from both logs, serves the lines they matched in its
metrics, starts a worker killed with SIGKILL again, and leaves no child behind when it stops.
"""

from __future__ import annotations

import os
import signal
import socket
import urllib.request
from pathlib import Path

import pytest

from tests.e2e.harness import Server, append, failure_line, wait_for

pytestmark = pytest.mark.skipif(not Path("/etc/fail2ban/filter.d/sshd.conf").exists(),
                                reason="needs fail2ban's sshd filter")
LOGIN = ("Dec  2 10:00:00 host sshd[4163]: Accepted publickey for alice from 192.0.2.44 "
         "port 18438 ssh2: ED25519 SHA256:IKJbW3\n")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _workers(pid: int) -> set[int]:
    """The daemon's worker processes (its children running ``warden.daemon.workers``)."""
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            try:
                argv = Path(f"/proc/{child}/cmdline").read_bytes().split(b"\0")
            except FileNotFoundError:
                continue
            if b"warden.daemon.workers" in argv:
                found.add(int(child))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def _series(port: int) -> dict[str, float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as reply:
        text = reply.read().decode()
    return {name: float(value) for name, value in
            (line.rsplit(" ", 1) for line in text.splitlines() if line.startswith("warden_"))}


def test_two_jails_in_workers_ban_count_and_survive_a_killed_worker(
        tmp_path: Path, servers: list[Server]) -> None:
    logs = {name: tmp_path / f"{name}.log" for name in ("a", "b")}
    for log in logs.values():
        log.touch()
    port = _free_port()
    server = Server(tmp_path / "warden", "".join(
        f"[{name}]\nenabled = true\nfilter = sshd\nlogpath = {log}\n\n"
        for name, log in logs.items()), settings=f"workers = 2\nmetrics = 127.0.0.1:{port}\n")
    servers.append(server.start())
    assert server.proc is not None
    pid = server.proc.pid

    append(logs["a"], failure_line("192.0.2.1") * 3 + LOGIN)
    append(logs["b"], failure_line("2001:db8::1") * 3)
    wait_for("a ban from each log", lambda: set(server.banned()) == {"192.0.2.1", "2001:db8::1"})
    first = wait_for("two worker processes",
                     lambda: w if len(w := _workers(pid)) == 2 else None)

    for child in first:
        os.kill(child, signal.SIGKILL)
    append(logs["a"], failure_line("192.0.2.2") * 3)
    append(logs["b"], failure_line("2001:db8::2") * 3)
    wait_for("the bans after the kill", lambda: len(server.banned()) == 4)
    second = _workers(pid)
    assert len(second) == 2 and not second & first
    assert server.log_text().count("worker process ended (exit -9); started again") == 2

    series = wait_for("the metrics", lambda: _series(port))
    for jail, ignored in (("a", 1), ("b", 0)):
        assert series[f'warden_lines_matched_total{{jail="{jail}"}}'] == 6
        assert series[f'warden_lines_ignored_total{{jail="{jail}"}}'] == ignored
        assert series[f'warden_failures_total{{jail="{jail}"}}'] == 6

    assert server.stop() == 0
    assert not any(_alive(child) for child in first | second)
    # each ended worker was reaped by asyncio itself (no "unknown child process", exit 255)
    assert "child process" not in server.stderr_path.read_text()
