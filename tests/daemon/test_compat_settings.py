"""``compat_socket`` in ``[Definition]``: off by default, checked in one place (config/), and
refused by ``warden check`` and by the daemon with the same file:line message."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.harness import FILTERS, Server
from warden.config import load_jails
from warden.config.validate import settings_problems
from warden.daemon.settings import read_settings
from warden.errors import ConfigError


def _settings(tmp_path: Path, line: str, name: str = "warden") -> Path:
    (tmp_path / f"{name}.conf").write_text(f"[Definition]\nsocket = /run/w/w.sock\n{line}")
    (tmp_path / "jail.conf").write_text("[DEFAULT]\n")
    return tmp_path


@pytest.mark.parametrize(("line", "expected"), [
    ("", None), ("compat_socket =\n", None), ("compat_socket = none\n", None),
    ("compat_socket = off\n", None),
    ("compat_socket = /var/run/fail2ban/fail2ban.sock\n", "/var/run/fail2ban/fail2ban.sock"),
])
def test_off_unless_set(tmp_path: Path, line: str, expected: str | None) -> None:
    settings = read_settings(load_jails(_settings(tmp_path, line)).settings, foreground=True)
    assert settings.compat_socket == (None if expected is None else Path(expected))


@pytest.mark.parametrize(("value", "why"), [
    ("fail2ban.sock", "must be an absolute path"),
    ("/var/run/fail2ban/", "names a directory"),
    ("/run/w/w.sock", "is the control socket's path"),
])
@pytest.mark.parametrize("name", ["warden", "fail2ban"])
def test_a_bad_value_is_one_located_problem_for_check_and_daemon(
        tmp_path: Path, value: str, why: str, name: str) -> None:
    conf = _settings(tmp_path, f"compat_socket = {value}\n", name)
    where = f"{conf / f'{name}.conf'}:3"
    settings = load_jails(conf).settings
    problems = settings_problems(settings)
    assert [str(p) for p in problems] == [f"{where}: compat_socket = {value}: " + str(
        problems[0]).split(f"{value}: ", 1)[1]] and why in str(problems[0])
    with pytest.raises(ConfigError) as caught:
        read_settings(settings, foreground=True)
    assert str(caught.value) == str(problems[0])
    check = subprocess.run([sys.executable, "-m", "warden", "check", "-c", str(conf)],
                           capture_output=True, text=True, timeout=60, check=False)
    assert check.returncode == 2 and f"{where}: compat_socket" in check.stdout + check.stderr


@pytest.mark.skipif(not (FILTERS / "sshd.conf").exists(), reason="needs fail2ban")
def test_the_daemon_refuses_a_compat_socket_in_a_directory_others_can_write(
        tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o777)  # world-writable without the sticky bit: names could be swapped
    (tmp_path / "auth.log").touch()
    server = Server(tmp_path, f"[sshd]\nenabled = true\nfilter = sshd\n"
                              f"logpath = {tmp_path}/auth.log\n",
                    settings=f"compat_socket = {shared}/fail2ban.sock\n")
    done = subprocess.run(server.argv("server", "-f", "--logtarget", "STDERR"),
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode != 0
    assert f"cannot serve fail2ban's protocol on {shared}/fail2ban.sock: {shared}:" in done.stderr
    assert "Traceback" not in done.stderr and "started" not in done.stderr
    assert not (shared / "fail2ban.sock").exists() and not server.socket.exists()
    assert stat.S_IMODE(shared.stat().st_mode) == 0o777


@pytest.mark.skipif(not (FILTERS / "sshd.conf").exists(), reason="needs fail2ban")
@pytest.mark.parametrize("kind", ["file", "symlink"])
def test_a_compat_socket_naming_something_else_never_removes_it(tmp_path: Path, kind: str
                                                                 ) -> None:
    precious = tmp_path / "precious"
    precious.write_text("keep me\n")
    target = precious
    if kind == "symlink":
        target = tmp_path / "link.sock"
        target.symlink_to(precious)
    (tmp_path / "auth.log").touch()
    server = Server(tmp_path, f"[sshd]\nenabled = true\nfilter = sshd\n"
                              f"logpath = {tmp_path}/auth.log\n",
                    settings=f"compat_socket = {target}\n")
    done = subprocess.run(server.argv("server", "-f", "--logtarget", "STDERR"),
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 1
    assert (f"cannot serve fail2ban's protocol on {target}: something other than a socket is "
            "there; refusing to replace it") in done.stderr
    assert precious.read_text() == "keep me\n" and os.path.lexists(target)
    assert not server.socket.exists()
