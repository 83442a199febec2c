"""contrib/systemd/warden.service, contrib/logrotate/warden and the FreeBSD newsyslog line.

The unit is checked by ``systemd-analyze verify`` (skipped where it is missing) and its
command is run as systemd would run it: the real daemon in the foreground with
``$NOTIFY_SOCKET`` naming the test's socket, reloaded with the unit's ExecReload, stopped
with its KillSignal, and warden's own recidive filter run over the log it leaves. logrotate
runs for real over a copy of the example with the paths moved to a temporary directory.

Not covered (no systemd as pid 1 here): the sandbox itself (ProtectSystem, ReadWritePaths,
the capability set) and ordering by After=; the unit's keys are read, not enforced. newsyslog
does not exist on Linux: its line is checked field by field against newsyslog.conf(5).
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import socket
import stat
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from tests.contrib.daemon_tree import environment, warden_argv, write_tree
from warden.backends.hostsdeny import HostsDenyBackend
from warden.cli.init import HostFacts, plan_tree
from warden.config import load_jails

ROOT = Path(__file__).resolve().parents[2]
UNIT = ROOT / "contrib" / "systemd" / "warden.service"
DATA = ROOT / "src" / "warden" / "data"
WARDEN = Path(sys.executable).with_name("warden")
# where `pip install` run as root puts console scripts (prefix /usr/local)
PIP_SCRIPTS = sysconfig.get_path("scripts", "posix_prefix",
                                 vars={"base": "/usr/local", "platbase": "/usr/local"})


def _unit() -> dict[str, list[str]]:
    """``Section.Key`` -> its values, in order (a key may repeat)."""
    keys: dict[str, list[str]] = {}
    section = ""
    for line in UNIT.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        keys.setdefault(f"{section}.{key.strip()}", []).append(value.strip())
    return keys


def _one(keys: dict[str, list[str]], name: str) -> str:
    assert len(keys.get(name, [])) == 1, f"{name}: {keys.get(name)}"
    return keys[name][0]


def _option(settings: str, name: str) -> str:
    """``name = value`` of an INI text (the first one)."""
    for line in settings.splitlines():
        key, sep, value = line.partition("=")
        if sep and key.strip() == name:
            return value.strip()
    raise AssertionError(f"no {name}")


def _recidive_logpath(tmp: Path) -> str:
    """The recidive jail's log file as the daemon resolves it (paths-*.conf variables)."""
    tree = tmp / "tree"
    shutil.copytree(DATA, tree)
    (tree / "jail.local").write_text("[recidive]\nenabled = true\n")
    (recidive,) = [jail for jail in load_jails(tree).jails if jail.name == "recidive"]
    (logpath,) = recidive.logpath
    return logpath.pattern


def test_execstart_is_pips_command_logging_where_recidive_reads(tmp_path: Path) -> None:
    keys = _unit()
    argv = shlex.split(_one(keys, "Service.ExecStart"))
    assert argv[0] == f"{PIP_SCRIPTS}/warden"
    assert argv[1:3] == ["server", "-f"]
    # -f alone would log to stderr (the journal); the recidive jail reads warden's log file
    assert argv[3:] == ["--logtarget", _recidive_logpath(tmp_path)]
    assert _one(keys, "Service.Type") == "notify"
    assert _one(keys, "Service.ExecReload") == "/bin/kill -HUP $MAINPID"
    assert _one(keys, "Service.KillSignal") == "SIGTERM"


def test_sandbox_leaves_the_hosts_deny_directory_writable() -> None:
    keys = _unit()
    protect = _one(keys, "Service.ProtectSystem")
    assert protect in ("full", "strict")  # both make /etc read-only ...
    writable = " ".join(keys.get("Service.ReadWritePaths", [])).split()
    # ... and hostsdeny renames a new file over /etc/hosts.deny: the directory must be
    # writable, a writable file alone is not enough
    assert os.path.dirname(HostsDenyBackend().path) in [p.lstrip("-") for p in writable]
    # the state directories are the ones warden.conf names on Linux
    settings = plan_tree(HostFacts("Linux", True, False))["warden.conf"]
    assert Path(_option(settings, "socket")).parent == Path("/run") / _one(
        keys, "Service.RuntimeDirectory")
    assert Path(_option(settings, "dbfile")).parent == Path("/var/lib") / _one(
        keys, "Service.StateDirectory")


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze")
def test_systemd_analyze_verify_is_silent(tmp_path: Path) -> None:
    # the command must exist for verify: point the unit's at this checkout's warden
    text = UNIT.read_text()
    assert text.count(f"ExecStart={PIP_SCRIPTS}/warden ") == 1
    unit = tmp_path / "warden.service"
    unit.write_text(text.replace(f"ExecStart={PIP_SCRIPTS}/warden ", f"ExecStart={WARDEN} "))
    result = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True,
                            text=True, timeout=60, check=False)
    # unknown keys and bad values are only warnings: no output at all is the pass
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def _receive(sock: socket.socket) -> dict[str, str]:
    sock.settimeout(20)
    return dict(line.split("=", 1) for line in sock.recv(4096).decode().split("\n"))


def test_the_units_command_under_notify_reload_and_stop(tmp_path: Path) -> None:
    keys = _unit()
    tree = write_tree(tmp_path)
    log = tmp_path / "warden.log"
    argv = shlex.split(_one(keys, "Service.ExecStart"))
    argv = [str(WARDEN), *argv[1:-1], str(log), "-c", str(tree.conf)]
    notify = tmp_path / "notify"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(notify))
        with open(tmp_path / "stderr", "wb") as err:
            proc = subprocess.Popen(argv, env=environment(NOTIFY_SOCKET=str(notify)),
                                    stdin=subprocess.DEVNULL, stdout=err, stderr=err)
        try:
            assert _receive(sock)["READY"] == "1"
            failures = "".join(f"fail from 192.0.2.{n % 2 + 5}\n" for n in range(6))
            with open(tmp_path / "probe.log", "a") as watched:
                watched.write(failures)
            banned = ""
            for _ in range(100):
                banned = subprocess.run(
                    warden_argv("status", "probe", "-c", str(tree.conf)), text=True,
                    capture_output=True, check=False, env=environment()).stdout
                if "192.0.2.5" in banned and "192.0.2.6" in banned:
                    break
            assert "192.0.2.6" in banned, banned
            # ExecReload, with systemd's $MAINPID
            reload = _one(keys, "Service.ExecReload")
            subprocess.run(["/bin/sh", "-c", reload], check=True,
                           env=environment(MAINPID=str(proc.pid)))
            assert _receive(sock)["RELOADING"] == "1"
            assert _receive(sock)["READY"] == "1"
            proc.send_signal(getattr(signal, _one(keys, "Service.KillSignal")))
            assert _receive(sock)["STOPPING"] == "1"
            assert proc.wait(20) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
    # nothing went to stderr (the journal) while it ran: the log file has it all ...
    assert (tmp_path / "stderr").read_text() == ""
    # ... and warden's recidive filter finds both bans there
    found = subprocess.run(
        warden_argv("regex", str(log), str(DATA / "filter.d" / "recidive.conf"), "--json"),
        text=True, capture_output=True, check=True).stdout
    hosts = sorted(json.loads(line)["host"] for line in found.splitlines()
                   if json.loads(line).get("match"))
    assert hosts == ["192.0.2.5", "192.0.2.6"]


def test_logrotate_rotates_and_warden_reopens(tmp_path: Path) -> None:
    if shutil.which("logrotate") is None:
        pytest.skip("no logrotate")
    tree = write_tree(tmp_path)
    settings = plan_tree(HostFacts("Linux", True, False))["warden.conf"]
    example = "".join(line for line in (ROOT / "contrib" / "logrotate" / "warden").read_text()
                      .splitlines(keepends=True) if not line.startswith("#"))
    # the example rotates the log and signals the pid file that warden.conf names
    assert example.startswith(_option(settings, "logtarget") + " {")
    assert example.count(_option(settings, "pidfile")) == 2
    config = tmp_path / "logrotate.conf"
    config.write_text(example.replace(_option(settings, "logtarget"), str(tree.logfile))
                      .replace(_option(settings, "pidfile"), str(tree.pidfile)))
    started = subprocess.run(warden_argv("server", "-c", str(tree.conf)), text=True,
                             capture_output=True, check=False, env=environment())
    assert started.returncode == 0, started.stderr
    try:
        before = tree.logfile.read_text()
        assert "Server ready" in before
        subprocess.run(["logrotate", "--force", "--state", str(tmp_path / "state"),
                        str(config)], check=True, capture_output=True, timeout=60)
        rotated = tree.logfile.with_name(tree.logfile.name + ".1")
        assert rotated.read_text() == before
        # SIGUSR1 from postrotate: new lines go to the new file, which only root can read
        assert stat.S_IMODE(tree.logfile.stat().st_mode) == 0o600
        subprocess.run(warden_argv("reload", "-c", str(tree.conf)), check=True,
                       capture_output=True, env=environment())
        assert "log file reopened" in tree.logfile.read_text()
        assert "reloaded" in tree.logfile.read_text()
    finally:
        subprocess.run(warden_argv("stop", "-c", str(tree.conf)), capture_output=True,
                       check=False, env=environment())


def test_newsyslog_line_signals_sigusr1_to_the_rc_pid_file() -> None:
    text = (ROOT / "contrib" / "freebsd" / "newsyslog.conf").read_text()
    entries = [line.split() for line in text.splitlines()
               if line.strip() and not line.startswith("#")]
    assert len(entries) == 1
    logfile, owner, mode, count, size, when, flags, pid_file, sig = entries[0]
    settings = plan_tree(HostFacts("FreeBSD", True, False))["warden.conf"]
    assert logfile == _option(settings, "logtarget")
    rc_script = (ROOT / "contrib" / "freebsd" / "warden").read_text()
    assert f': ${{warden_pidfile:="{pid_file}"}}' in rc_script
    assert pid_file == _option(settings, "pidfile")
    assert sig == "30"  # SIGUSR1's number on FreeBSD (signal(3)); Linux's is 10
    assert owner == "root:wheel" and mode == "600"
    assert count.isdigit() and (size.isdigit() or size == "*") and when
    assert set(flags) <= set("BCDEGJNpRTUXYZ-")  # the flags newsyslog.conf(5) defines
