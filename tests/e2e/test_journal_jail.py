"""A ``backend = systemd[...]`` jail reads the journal its options name (a container's or a
copied journal: fail2ban #1408, #3649), not the machine's; ``status`` shows its journalmatch
as fail2ban does. The journal files are real, written by systemd-journal-remote."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.e2e.harness import Server, wait_for
from tests.sources.test_journal import export_at, needs_journal, write_journal

pytestmark = [needs_journal, pytest.mark.skipif(
    not Path("/etc/fail2ban/filter.d/sshd.conf").exists(), reason="needs fail2ban's sshd filter")]

MATCH = "_SYSTEMD_UNIT=sshd.service + _COMM=sshd"


def _failures(addr: str, count: int, start: float) -> list[bytes]:
    return [export_at(start + i, f"Failed password for root from {addr} port 22 ssh2")
            for i in range(count)]


def _jail(backend: str) -> str:
    return (f"[sshd]\nenabled = true\nfilter = sshd\nbackend = {backend}\n"
            f"journalmatch = {MATCH}\n")


@pytest.mark.parametrize("option", ["journalpath", "journalfiles"])
def test_a_jail_bans_from_the_journal_its_backend_names(tmp_path: Path, servers: list[Server],
                                                        option: str) -> None:
    container = tmp_path / "machines" / "c1" / "journal"
    container.mkdir(parents=True)
    now = time.time()
    write_journal(container / "system.journal", _failures("192.0.2.41", 3, now - 30))
    where = container if option == "journalpath" else container / "*.journal"
    server = Server(tmp_path, _jail(f"systemd[{option}={where}]"))
    servers.append(server)
    server.start()
    ban = wait_for("the ban from the container's journal",
                   lambda: server.banned().get("192.0.2.41"))
    assert ban.jail == "sshd"
    status = server.cli("status", "sshd")
    assert status.returncode == 0, status.stderr
    # fail2ban's tree: the journal jail names its matches where a file jail lists files
    assert f"`- Journal matches:\t{MATCH}\n" in status.stdout
    assert "File list" not in status.stdout
    assert server.status("sshd").journal_matches == MATCH


def test_a_bad_backend_option_is_refused_at_load_with_its_line(tmp_path: Path) -> None:
    server = Server(tmp_path, _jail("systemd[journalflags=all]"))
    check = server.cli("check")
    assert check.returncode == 2
    assert f"{server.conf / 'jail.local'}:4: [sshd] backend: journalflags 'all' is not an " \
        "integer" in check.stdout + check.stderr
    server = Server(tmp_path, _jail("systemd[jornalpath=/var/log/journal]"))
    check = server.cli("check")
    assert "unknown systemd backend option 'jornalpath'" in check.stdout + check.stderr
