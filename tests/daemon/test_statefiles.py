"""State directories, files and the database lock, on real files, symlinks and users."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from warden.daemon.pidfile import PidFile
from warden.daemon.statefiles import (
    DatabaseLocked,
    UnsafeStatePath,
    check_dir,
    lock_database,
    tighten,
    write_atomic,
)

NOBODY = 65534


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def _victim(tmp_path: Path) -> Path:
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    victim.chmod(0o600)
    return victim


def test_pid_file_never_follows_a_symlink_at_its_temporary_name(tmp_path: Path) -> None:
    victim = _victim(tmp_path)
    run = tmp_path / "run"
    run.mkdir()
    (run / "warden.pid.tmp").symlink_to(victim)
    PidFile(run / "warden.pid").write()
    assert victim.read_text() == "precious\n" and _mode(victim) == 0o600
    assert (run / "warden.pid").read_text() == f"{os.getpid()}\n"
    assert _mode(run / "warden.pid") == 0o600
    # only the planted link is left beside it: no temporary file stays behind
    assert sorted(p.name for p in run.iterdir()) == ["warden.pid", "warden.pid.tmp"]


def test_write_atomic_replaces_a_symlink_instead_of_writing_through_it(tmp_path: Path) -> None:
    victim = _victim(tmp_path)
    target = tmp_path / "state"
    target.symlink_to(victim)
    write_atomic(target, b"new\n")
    assert victim.read_text() == "precious\n"
    assert not target.is_symlink() and target.read_bytes() == b"new\n"
    assert _mode(target) == 0o600


@pytest.mark.parametrize("mode", [0o777, 0o773, 0o757])
def test_directory_writable_by_others_is_refused(tmp_path: Path, mode: int) -> None:
    run = tmp_path / "run"
    run.mkdir()
    run.chmod(mode)
    with pytest.raises(UnsafeStatePath, match=f"^{run}: writable by group or others"):
        check_dir(run)
    # and so is everything below it, even a safe directory: its entries can be swapped
    inner = run / "inner"
    inner.mkdir(mode=0o700)
    with pytest.raises(UnsafeStatePath, match=f"^{run}: "):
        check_dir(inner / "missing")
    assert not (inner / "missing").exists()


def test_group_writable_by_a_trusted_group_or_sticky_is_accepted(tmp_path: Path) -> None:
    sticky = tmp_path / "sticky"
    sticky.mkdir()
    sticky.chmod(0o1777)
    check_dir(sticky)
    assert _mode(sticky) == 0o1777  # an existing directory keeps its mode
    group_root = tmp_path / "group-root"
    group_root.mkdir()
    os.chown(group_root, 0, 0)
    group_root.chmod(0o770)
    check_dir(group_root)
    os.chown(group_root, 0, NOBODY)
    with pytest.raises(UnsafeStatePath, match="writable by group"):
        check_dir(group_root)
    check_dir(group_root, group_ok=True)  # a log directory like Ubuntu's /var/log


def test_directory_owned_by_another_user_is_refused(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir(mode=0o755)
    os.chown(run, NOBODY, NOBODY)
    with pytest.raises(UnsafeStatePath, match=f"^{run}: owned by uid {NOBODY}"):
        check_dir(run)


def test_a_symlinked_directory_is_judged_by_where_it_leads(tmp_path: Path) -> None:
    other = tmp_path / "other"
    other.mkdir(mode=0o755)
    os.chown(other, NOBODY, NOBODY)
    (tmp_path / "run").symlink_to(other)
    with pytest.raises(UnsafeStatePath, match=f"^{other}: owned by uid {NOBODY}"):
        check_dir(tmp_path / "run")


def test_missing_directories_are_created_0700(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        check_dir(tmp_path / "a" / "b")
    finally:
        os.umask(old)
    assert _mode(tmp_path / "a") == 0o700 and _mode(tmp_path / "a" / "b") == 0o700


def test_tighten_makes_files_private_and_leaves_symlinks_alone(tmp_path: Path) -> None:
    loose = tmp_path / "warden.db"
    loose.write_text("x")
    loose.chmod(0o644)
    tighten(loose)
    assert _mode(loose) == 0o600
    victim = tmp_path / "victim"
    victim.write_text("x")
    victim.chmod(0o644)
    link = tmp_path / "warden.log"
    link.symlink_to(victim)
    tighten(link)
    assert _mode(victim) == 0o644
    tighten(tmp_path / "missing")
    foreign = tmp_path / "foreign"
    foreign.write_text("x")
    os.chown(foreign, NOBODY, NOBODY)
    with pytest.raises(UnsafeStatePath, match=f"^{foreign}: owned by uid {NOBODY}"):
        tighten(foreign)


_HOLD = """
import sys, time
from warden.daemon.statefiles import lock_database
lock = lock_database(sys.argv[1])
print("locked", flush=True)
sys.stdin.read()
"""


def test_database_lock_refuses_a_second_process_and_names_the_holder(tmp_path: Path) -> None:
    db = tmp_path / "lib" / "warden.db"
    holder = subprocess.Popen([sys.executable, "-c", _HOLD, str(db)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "locked\n"
        with pytest.raises(DatabaseLocked) as caught:
            lock_database(str(db))
        assert str(caught.value) == (f"warden already runs with database {db} "
                                     f"(pid {holder.pid})")
    finally:
        holder.communicate("")
    assert _mode(db.parent) == 0o700 and _mode(db.with_name("warden.db.lock")) == 0o600
    # the holder is gone, so is its lock
    lock = lock_database(str(db))
    assert lock is not None
    assert db.with_name("warden.db.lock").read_text() == f"{os.getpid()}\n"
    lock.release()
    assert lock_database(":memory:") is None


def test_lock_file_planted_as_symlink_is_not_followed(tmp_path: Path) -> None:
    victim = _victim(tmp_path)
    (tmp_path / "warden.db.lock").symlink_to(victim)
    with pytest.raises(OSError):
        lock_database(str(tmp_path / "warden.db"))
    assert victim.read_text() == "precious\n"


def test_a_stale_pid_file_naming_another_program_does_not_block_a_start(tmp_path: Path
                                                                        ) -> None:
    # after a reboot the old pid may belong to anything; only a warden process counts
    pidfile = PidFile(tmp_path / "warden.pid")
    other = subprocess.Popen(["sleep", "30"])
    warden_like = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)",
                                    "-m", "warden.daemon"])
    try:
        (tmp_path / "warden.pid").write_text(f"{other.pid}\n")
        assert pidfile.running() is None
        pidfile.write()  # taken over
        assert (tmp_path / "warden.pid").read_text() == f"{os.getpid()}\n"
        (tmp_path / "warden.pid").write_text(f"{warden_like.pid}\n")
        assert pidfile.running() == warden_like.pid
    finally:
        for proc in (other, warden_like):
            proc.kill()
            proc.wait()
