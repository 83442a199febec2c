"""The daemon's state files against a local user: modes, planted symlinks, unsafe directories,
and a second daemon on the same database. Real daemon subprocesses, real files, and the
unprivileged user ``nobody`` (through ``setpriv``) as the other user."""

from __future__ import annotations

import os
import shutil
import sqlite3
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.harness import Server, wait_for
from warden.protocol import BanReply, BanRequest

NOBODY = 65534

pytestmark = [
    pytest.mark.skipif(not Path("/etc/fail2ban/filter.d/sshd.conf").exists(),
                       reason="needs fail2ban's sshd filter"),
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (chown, a second user)"),
    pytest.mark.skipif(shutil.which("setpriv") is None, reason="needs setpriv"),
]


@pytest.fixture
def root() -> Iterator[Path]:
    """A directory every user may enter, as /var/lib and /run are (pytest's tmp_path is 0700
    and would hide the files from the other user whatever their mode)."""
    path = Path(tempfile.mkdtemp(prefix="warden-state-", dir="/tmp"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path)


def _jail(root: Path) -> str:
    log = root / "auth.log"
    log.touch()
    return f"[sshd]\nenabled = true\nfilter = sshd\nlogpath = {log}\n"


def _server(made: list[Server], root: Path, *, db: Path | None = None,
            action: str = "dummy") -> Server:
    root.mkdir(exist_ok=True)
    server = Server(root, _jail(root), action=action)
    if db is not None:
        server.db = db
        server.write_config(_jail(root), action=action)
    made.append(server)
    return server


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def _nobody_reads(path: Path) -> bool:
    done = subprocess.run(["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}",
                           "--clear-groups", "cat", str(path)],
                          capture_output=True, check=False)
    return done.returncode == 0


def _refused(server: Server, *extra: str) -> subprocess.CompletedProcess[str]:
    """Run ``warden server -f`` expecting it to stop at once (20 s: on a daemon that starts
    anyway the test fails instead of hanging)."""
    return subprocess.run(server.argv("server", "-f", *extra), capture_output=True, text=True,
                          timeout=20, check=False)


def _ban(server: Server) -> None:
    # a write: SQLite has its -wal and -shm open from here on
    assert server.call(BanRequest("sshd", ("192.0.2.7",))) == BanReply("sshd", ("192.0.2.7",))


def test_state_files_are_0600_in_a_0700_directory_and_another_user_reads_none(
        root: Path, servers: list[Server]) -> None:
    db = root / "lib" / "warden.db"  # a directory the daemon has to create
    server = _server(servers, root, db=db).start()
    _ban(server)
    files = [db, db.with_name("warden.db-wal"), db.with_name("warden.db-shm"),
             server.pidfile, server.socket, server.logfile]
    assert {str(p): _mode(p) for p in files} == {str(p): 0o600 for p in files}
    assert _mode(db.parent) == 0o700
    assert _mode(server.run) == 0o755  # an existing directory is left as it is
    for path in (db, db.with_name("warden.db-wal"), server.logfile):
        assert not _nobody_reads(path), path
    assert _mode(db.with_name("warden.db.lock")) == 0o600
    # with the directory opened up, the files alone still keep the other user out
    db.parent.chmod(0o755)
    for path in (db, db.with_name("warden.db-wal"), db.with_name("warden.db-shm")):
        assert not _nobody_reads(path), path


def test_files_left_0644_by_an_older_version_are_made_private(
        root: Path, servers: list[Server]) -> None:
    server = _server(servers, root)
    old = os.umask(0o022)
    try:
        with sqlite3.connect(server.db) as conn:
            conn.execute("PRAGMA journal_mode=WAL")
        server.logfile.write_text("an old line\n")
    finally:
        os.umask(old)
    assert _mode(server.db) == _mode(server.logfile) == 0o644
    server.start()
    _ban(server)
    for path in (server.db, server.run / "warden.db-wal", server.run / "warden.db-shm",
                 server.logfile):
        assert _mode(path) == 0o600, path
    assert server.logfile.read_text().startswith("an old line\n")


def test_sticky_world_writable_run_directory_is_used_and_files_stay_private(
        root: Path, servers: list[Server]) -> None:
    server = _server(servers, root)
    server.run.chmod(0o1777)  # like /tmp, or /run on some systems
    server.start()
    _ban(server)
    assert _mode(server.run) == 0o1777
    for path in (server.pidfile, server.socket, server.db, server.run / "warden.db-wal"):
        assert _mode(path) == 0o600, path


def test_a_symlink_planted_at_the_pid_files_temporary_name_is_not_followed(
        root: Path, servers: list[Server]) -> None:
    server = _server(servers, root)
    victim = root / "shadow"
    victim.write_text("root:secret\n")
    victim.chmod(0o600)
    server.pidfile.with_name("warden.pid.tmp").symlink_to(victim)
    server.start()
    assert victim.read_text() == "root:secret\n" and _mode(victim) == 0o600
    assert not server.pidfile.is_symlink()
    assert server.pidfile.read_text() == f"{server.proc.pid if server.proc else 0}\n"


@pytest.mark.parametrize("how", ["world-writable", "owned by nobody"])
def test_an_unsafe_run_directory_is_refused_before_anything_starts(
        root: Path, servers: list[Server], how: str) -> None:
    server = _server(servers, root)
    if how == "world-writable":
        server.run.chmod(0o777)
        why = f"{server.run}: writable by group or others and not sticky"
    else:
        os.chown(server.run, NOBODY, NOBODY)
        why = f"{server.run}: owned by uid {NOBODY}"
    done = _refused(server, "--logtarget", "STDERR")
    assert done.returncode == 1, done.stderr
    assert done.stderr.startswith(f"warden: {why}") and "Traceback" not in done.stderr
    assert len(done.stderr.splitlines()) == 1
    assert sorted(p.name for p in server.run.iterdir()) == []
    # a log file there is refused the same way, as a configuration error
    done = _refused(server, "--logtarget", str(server.logfile))
    assert done.returncode == 2 and done.stderr.startswith(f"warden: logtarget {why}")


def _recording(server: Server, marks: Path) -> None:
    """A command action that notes when the daemon starts driving the firewall."""
    (server.conf / "action.d" / "record.conf").write_text(
        f"[Definition]\nactionstart = echo start >> {marks}\nactionstop =\n"
        "actionban =\nactionunban =\n")


def test_a_second_daemon_with_the_same_database_stops_before_the_firewall(
        root: Path, servers: list[Server]) -> None:
    first = _server(servers, root / "a", action="record")
    _recording(first, root / "a.marks")
    first.start()
    wait_for("the first daemon's actionstart", (root / "a.marks").exists)
    second = _server(servers, root / "b", db=first.db, action="record")
    _recording(second, root / "b.marks")
    assert second.socket != first.socket and second.pidfile != first.pidfile
    done = _refused(second)
    assert done.returncode == 1, done.stderr
    assert done.stderr == (f"warden: warden already runs with database {first.db} "
                           f"(pid {first.proc.pid if first.proc else 0})\n")
    assert not (root / "b.marks").exists()  # it never started an action
    assert not second.socket.exists() and not second.pidfile.exists()
    assert (root / "a.marks").read_text() == "start\n"
    # without state there is nothing to share: a dry run next to the daemon is fine
    second.start("--dbfile", ":memory:")
    first.status("sshd")


def test_a_detached_daemon_keeps_the_database_lock(root: Path, servers: list[Server]) -> None:
    first = _server(servers, root / "a")
    second = _server(servers, root / "b", db=first.db)
    started = first.cli("server")
    try:
        assert started.returncode == 0, started.stderr
        pid = int(first.pidfile.read_text())
        done = second.cli("server", timeout=20)
        assert done.returncode == 1
        assert done.stderr == (f"warden: warden already runs with database {first.db} "
                               f"(pid {pid})\n")
        assert first.db.with_name("warden.db.lock").read_text() == f"{pid}\n"
    finally:
        for server in (first, second):
            if server.pidfile.exists():
                server.cli("stop")
    wait_for("the daemon to stop", lambda: not first.pidfile.exists())


@pytest.mark.parametrize("what", ["file", "symlink"])
def test_something_other_than_a_socket_at_the_socket_path_is_never_removed(
        root: Path, servers: list[Server], what: str) -> None:
    server = _server(servers, root)
    server.run.mkdir(mode=0o700, exist_ok=True)
    victim = root / "victim"
    victim.write_text("precious\n")
    if what == "file":
        server.socket.write_text("precious\n")
    else:
        server.socket.symlink_to(victim)
    done = _refused(server, "--logtarget", "STDERR")
    assert done.returncode == 1, done.stderr
    assert done.stderr.strip() == (f"warden: cannot serve on {server.socket}: something "
                                   "other than a socket is there; refusing to replace it")
    assert server.socket.is_symlink() == (what == "symlink")
    assert server.socket.read_text() == "precious\n" and victim.read_text() == "precious\n"
