"""sd_notify(3) for ``Type=notify``: the datagrams a service manager would receive.

The notifier is tested against datagram sockets bound by the test (a path and an abstract
name); the daemon is the real one (``warden server -f`` as the systemd unit runs it) with
``$NOTIFY_SOCKET`` naming the test's socket. Not covered: systemd itself (there is no
systemd as pid 1 here), so neither ``After=warden.service`` ordering nor systemd's
rejection of messages from other processes (``NotifyAccess``) is exercised.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.contrib.daemon_tree import environment, warden_argv, write_tree
from warden.daemon.sdnotify import ServiceNotifier


@pytest.fixture
def listener(tmp_path: Path) -> Iterator[tuple[socket.socket, Path]]:
    """A datagram socket bound where $NOTIFY_SOCKET would point."""
    path = tmp_path / "notify"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    try:
        yield sock, path
    finally:
        sock.close()


def _states(sock: socket.socket, timeout: float) -> dict[str, str]:
    sock.settimeout(timeout)
    data = sock.recv(4096).decode()
    return dict(line.split("=", 1) for line in data.split("\n"))


def test_states_reach_a_path_socket(listener: tuple[socket.socket, Path]) -> None:
    sock, path = listener
    notifier = ServiceNotifier(str(path))
    assert notifier.active and notifier.ready()
    assert _states(sock, 2) == {"READY": "1", "MAINPID": str(os.getpid()), "STATUS": "serving"}
    assert notifier.reloading()
    reloading = _states(sock, 2)
    assert reloading["RELOADING"] == "1"
    # systemd compares it with CLOCK_MONOTONIC in microseconds
    now = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    assert 0 <= now - int(reloading["MONOTONIC_USEC"]) < 5_000_000
    assert notifier.stopping()
    assert _states(sock, 2)["STOPPING"] == "1"


def test_an_at_sign_names_the_abstract_namespace() -> None:
    name = f"warden-test-{os.getpid()}-{time.monotonic_ns()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(b"\0" + name.encode())
        assert ServiceNotifier("@" + name).stopping()
        assert _states(sock, 2)["STOPPING"] == "1"


def test_without_a_manager_nothing_is_sent(tmp_path: Path) -> None:
    for address in (None, ""):
        notifier = ServiceNotifier(address)
        assert not notifier.active and not notifier.ready()
    # a manager that went away is not the daemon's error
    assert not ServiceNotifier(str(tmp_path / "gone")).ready()


def test_from_environment_takes_the_variable_away(monkeypatch: pytest.MonkeyPatch,
                                                   listener: tuple[socket.socket, Path]) -> None:
    sock, path = listener
    monkeypatch.setenv("NOTIFY_SOCKET", str(path))
    notifier = ServiceNotifier.from_environment()
    # the commands the daemon runs (fail2ban actions) must not report as the daemon
    assert "NOTIFY_SOCKET" not in os.environ
    assert notifier.ready() and _states(sock, 2)["READY"] == "1"


def _listens(path: Path) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        try:
            probe.connect(str(path))
        except OSError:
            return False
    return True


def test_daemon_is_ready_only_when_its_socket_serves(
        tmp_path: Path, listener: tuple[socket.socket, Path]) -> None:
    sock, path = listener
    tree = write_tree(tmp_path)
    with open(tmp_path / "stderr", "wb") as err:
        proc = subprocess.Popen(
            warden_argv("server", "-f", "-c", str(tree.conf)),
            env=environment(NOTIFY_SOCKET=str(path)), stdin=subprocess.DEVNULL,
            stdout=err, stderr=err)
    try:
        try:
            ready = _states(sock, 20)
        except TimeoutError:
            raise AssertionError("no READY=1: " + (tmp_path / "stderr").read_text()) from None
        # at the moment READY=1 arrives the control socket already accepts connections,
        # and a ping sent now is answered
        assert _listens(tree.socket)
        assert ready == {"READY": "1", "MAINPID": str(proc.pid), "STATUS": "serving"}
        ping = subprocess.run(warden_argv("ping", "-c", str(tree.conf)), capture_output=True,
                              text=True, timeout=30, check=False, env=environment())
        assert ping.returncode == 0, ping.stderr
        # SIGHUP: RELOADING=1, then READY=1 when the reload is done
        proc.send_signal(signal.SIGHUP)
        assert _states(sock, 20)["RELOADING"] == "1"
        assert _states(sock, 20)["READY"] == "1"
        # a stop asked through the client is announced before the daemon exits
        stop = subprocess.run(warden_argv("stop", "-c", str(tree.conf)), capture_output=True,
                              text=True, timeout=30, check=False, env=environment())
        assert stop.returncode == 0, stop.stderr
        assert _states(sock, 20)["STOPPING"] == "1"
        assert proc.wait(20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
