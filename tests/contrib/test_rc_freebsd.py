"""contrib/freebsd/warden, the rc.d script, run by /bin/sh against a stand-in for rc.subr.

``tests/contrib/rc.subr`` implements what rc.subr(8) documents of run_rc_command,
check_pidfile, load_rc_config, checkyesno and wait_for_pids; the script is the shipped one
with only its ``. /etc/rc.subr`` line pointed at the stand-in, and ``warden_program`` in the
test's rc.conf (rc.subr's documented override of ``command``) names this checkout's
``warden`` script. The daemon is the real one, detaching as on FreeBSD, with a temporary
tree, no database and the dummy action.

Not covered: FreeBSD's own rc.subr and service(8) (only the documented behaviour is
modelled), FreeBSD's ps (the stand-in reads Linux's ``ps -o args=``; FreeBSD's
``ps -o command=`` shows the same argv), jails, rcorder (REQUIRE: pf), boot-time
``faststart`` and the port's installed paths.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.contrib.daemon_tree import Tree, environment, warden_argv, write_tree

CONTRIB = Path(__file__).resolve().parents[2] / "contrib" / "freebsd"
STAND_IN = Path(__file__).with_name("rc.subr")
# this checkout's `warden` console script (its first line names the interpreter)
WARDEN = Path(sys.executable).with_name("warden")


@dataclass
class Service:
    """``service warden ARG`` with the stand-in: the script, its rc.conf and the tree."""

    script: Path
    rc_conf: Path
    tree: Tree
    pidfile: Path

    def run(self, arg: str) -> subprocess.CompletedProcess[str]:
        """``/bin/sh warden ARG``."""
        return subprocess.run(["/bin/sh", str(self.script), arg], capture_output=True,
                              text=True, timeout=60, check=False,
                              env=environment(RC_CONF_FILES=str(self.rc_conf)))

    def configure(self, **values: str) -> None:
        """Write rc.conf: ``warden_KEY="VALUE"`` for each of ``values``."""
        lines = [f'warden_{key}="{value}"' for key, value in values.items()]
        self.rc_conf.write_text("\n".join(lines) + "\n")

    def pid(self) -> int:
        """The pid in the pid file."""
        return int(self.pidfile.read_text().strip())


def _alive(pid: int) -> bool:
    """The process runs (a zombie has exited: the detached daemon's parent is pid 1, which
    reaps it when it likes)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    script = tmp_path / "warden.rc"
    text = (CONTRIB / "warden").read_text()
    assert text.count("\n. /etc/rc.subr\n") == 1
    script.write_text(text.replace("\n. /etc/rc.subr\n", f"\n. {STAND_IN}\n"))
    tree = write_tree(tmp_path)
    svc = Service(script, tmp_path / "rc.conf", tree, tmp_path / "rcrun" / "warden.pid")
    svc.configure(enable="YES", program=str(WARDEN), config=str(tree.conf),
                  pidfile=str(svc.pidfile))
    try:
        yield svc
    finally:
        try:
            pid = svc.pid()
        except (OSError, ValueError):
            pid = 0
        if pid and _alive(pid):
            os.kill(pid, signal.SIGKILL)


def test_start_status_second_start_refused_stop(service: Service) -> None:
    started = service.run("start")
    assert started.returncode == 0, started.stderr
    assert started.stdout == "Starting warden.\n"
    pid = service.pid()
    # the daemon that runs is the interpreter the warden script names, as rc.subr is told
    args = subprocess.run(["ps", "-o", "args=", "-p", str(pid)], capture_output=True,
                          text=True, check=True).stdout
    assert args.split()[:3] == [sys.executable, "-m", "warden.daemon"]

    status = service.run("status")
    assert (status.returncode, status.stdout) == (0, f"warden is running as pid {pid}.\n")
    ping = subprocess.run(warden_argv("ping", "-c", str(service.tree.conf)), text=True,
                          capture_output=True, check=False, env=environment())
    assert ping.returncode == 0, ping.stderr

    again = service.run("start")
    assert again.returncode == 1
    assert again.stderr == f"warden already running? (pid={pid}).\n"
    assert service.pid() == pid and _alive(pid)

    stopped = service.run("stop")
    assert stopped.returncode == 0, stopped.stderr
    assert stopped.stdout == f"Stopping warden.\nWaiting for PIDS: {pid}.\n"
    assert not _alive(pid)
    assert not service.pidfile.exists()  # the daemon removes its pid file at the end

    status = service.run("status")
    assert (status.returncode, status.stdout) == (1, "warden is not running.\n")
    stop = service.run("stop")
    assert stop.returncode == 1
    assert stop.stderr == f"warden not running? (check {service.pidfile}).\n"

    # after a crash and a reboot the pid file may name any program: rc.subr checks which
    with subprocess.Popen(["sleep", "30"]) as other:
        try:
            service.pidfile.write_text(f"{other.pid}\n")
            status = service.run("status")
            assert (status.returncode, status.stdout) == (1, "warden is not running.\n")
            assert service.run("stop").returncode == 1 and _alive(other.pid)
        finally:
            other.kill()


def test_flags_go_to_the_server_and_config_names_the_tree(service: Service,
                                                         tmp_path: Path) -> None:
    other_log = tmp_path / "from-flags.log"
    service.configure(enable="YES", program=str(WARDEN), config=str(service.tree.conf),
                      pidfile=str(service.pidfile),
                      flags=f"--logtarget {other_log} --loglevel DEBUG")
    started = service.run("start")
    assert started.returncode == 0, started.stderr
    # --logtarget from warden_flags won over warden.conf's logtarget
    assert "Server ready" in other_log.read_text()
    assert not service.tree.logfile.exists()
    # warden_config is the tree: its socket is the one that serves
    assert service.tree.socket.is_socket()
    reload = service.run("reload")
    assert reload.returncode == 0, reload.stderr
    assert "reloaded" in other_log.read_text()
    check = service.run("configtest")
    assert check.returncode == 0, check.stderr
    assert check.stdout.startswith(f"{service.tree.conf}: OK")

    old = service.pid()
    restarted = service.run("restart")
    assert restarted.returncode == 0, restarted.stderr
    assert restarted.stdout.startswith("Stopping warden.\n")
    assert restarted.stdout.endswith("Starting warden.\n")
    new = service.pid()
    assert new != old and not _alive(old) and _alive(new)
    assert service.run("stop").returncode == 0


def test_enable_decides_unless_one_is_asked(service: Service) -> None:
    service.configure(program=str(WARDEN), config=str(service.tree.conf),
                      pidfile=str(service.pidfile))  # warden_enable unset: the script's NO
    refused = service.run("start")
    assert refused.returncode == 0
    assert refused.stdout == ("Cannot 'start' warden. Set warden_enable to YES in /etc/rc.conf "
                              "or use 'onestart' instead of 'start'.\n")
    assert not service.pidfile.exists()
    assert service.run("onestart").returncode == 0
    pid = service.pid()
    assert service.run("onestatus").stdout == f"warden is running as pid {pid}.\n"
    assert service.run("onestop").returncode == 0
    assert not _alive(pid)
