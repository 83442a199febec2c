"""Debian's own ``fail2ban-client`` binary drives ``warden server`` through ``compat_socket``.

The same commands go to a real ``fail2ban-server`` (same jail, a do-nothing action, its own
temporary socket) and to warden with the same state; the client must print the same text and
exit with the same code for both. Then raw pickles that would build anything but plain values
(``os.system`` through GLOBAL/REDUCE, a class instance, sets, a huge or a deeply nested
message) are sent to warden's socket: each gets an error answer, nothing runs (the marker file
such a pickle would create never appears) and the connection keeps answering.
"""

from __future__ import annotations

import json
import os
import pickle
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.e2e.harness import FILTERS, Server, append, failure_line, wait_for
from warden.config import load_filter
from warden.core.filter import Filter

CLIENT = shutil.which("fail2ban-client")
SERVER = shutil.which("fail2ban-server")
END = b"<F2B_END_COMMAND>"

pytestmark = pytest.mark.skipif(CLIENT is None or not (FILTERS / "sshd.conf").exists(),
                                reason="needs Debian's fail2ban package")

STOCK_RECIDIVE = Path("/etc/fail2ban")
JAIL = "maxretry = 3\nfindtime = 1h\nbantime = 1h\nignoreself = false\n"


def client(sock: Path, *args: str) -> tuple[int, str]:
    """``fail2ban-client -s SOCK ARGS``: exit code and what it printed on stdout."""
    assert CLIENT is not None
    done = subprocess.run([CLIENT, "-s", str(sock), *args], capture_output=True, text=True,
                          timeout=30, check=False)
    return done.returncode, done.stdout


# The long comparisons run each command line through one process that stays up: Debian's
# fail2ban-client code (what /usr/bin/fail2ban-client calls, exec_command_line's client)
# or warden's own client's main, each command as if typed, stdout and stderr caught. Starting
# a Python process per step was most of this module's time (fail2ban-client 0.4 s, warden
# up to 1.7 s on a loaded machine, 170 steps); a few tests still run the binaries themselves.
_DRIVER = r"""
import contextlib, io, json, os, sys
answer = sys.stdout
if sys.argv[1] == "fail2ban":
    from fail2ban.client.fail2banclient import Fail2banClient
    def run(argv):
        return 0 if Fail2banClient().start(["fail2ban-client", *argv]) else 255
else:
    from warden.cli.main import main as run
for line in sys.stdin:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = run(json.loads(line))
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
    answer.write(json.dumps([code, out.getvalue(), err.getvalue()]) + "\n")
    answer.flush()
"""


class _Driver:
    """One client process that runs command lines sent to it, one at a time."""

    def __init__(self, python: str, kind: str) -> None:
        self.proc = subprocess.Popen([python, "-c", _DRIVER, kind], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     text=True)

    def run(self, *argv: str) -> tuple[int, str, str]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(argv) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        assert line, f"the client driver died at {argv}"
        code, out, err = json.loads(line)
        return int(code), str(out), str(err)

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture(scope="module")
def f2b_client() -> Iterator[Callable[..., tuple[int, str]]]:
    """``f2b_client(sock, *args)``: as :func:`client`, through fail2ban-client's code in one
    process."""
    assert CLIENT is not None
    python = Path(CLIENT).read_text().splitlines()[0].removeprefix("#!").split()
    driver = _Driver(python[0], "fail2ban")

    def run(sock: Path, *args: str) -> tuple[int, str]:
        code, out, _ = driver.run("-s", str(sock), *args)
        return code, out
    yield run
    driver.close()


@pytest.fixture(scope="module")
def warden_client() -> Iterator[Callable[..., tuple[int, str, str]]]:
    """``warden_client(server, *args)``: ``warden ARGS -c CONF`` through warden's main in one
    process: exit code, stdout, stderr."""
    driver = _Driver(sys.executable, "warden")

    def run(server: Server, *args: str) -> tuple[int, str, str]:
        return driver.run(*args, "-c", str(server.conf))
    yield run
    driver.close()


class Fail2banServer:
    """A real fail2ban-server in a temporary directory: the oracle."""

    def __init__(self, root: Path) -> None:
        self.conf = root / "conf"
        self.run = root / "run"
        self.log = root / "auth.log"
        self.socket = self.run / "f2b.sock"
        for sub in ("filter.d", "action.d"):
            (self.conf / sub).mkdir(parents=True, exist_ok=True)
        self.run.mkdir(parents=True, exist_ok=True)
        self.log.touch()
        for name in ("sshd.conf", "common.conf"):
            shutil.copy(FILTERS / name, self.conf / "filter.d" / name)
        (self.conf / "action.d" / "noop.conf").write_text(
            "[Definition]\nactionstart =\nactionstop =\nactioncheck =\nactionban =\n"
            "actionunban =\n")
        (self.conf / "fail2ban.conf").write_text(
            f"[Definition]\nloglevel = INFO\nlogtarget = {self.run}/f2b.log\n"
            f"socket = {self.socket}\npidfile = {self.run}/f2b.pid\ndbfile = :memory:\n")
        (self.conf / "jail.conf").write_text(
            f"[DEFAULT]\n{JAIL}backend = polling\n[sshd]\nenabled = true\nfilter = sshd\n"
            f"action = noop\nlogpath = {self.log}\n")
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        assert SERVER is not None
        self.proc = subprocess.Popen(
            [SERVER, "-f", "-x", "-c", str(self.conf), "-s", str(self.socket), "-p",
             str(self.run / "f2b.pid")], stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for("fail2ban-server to answer ping",
                 lambda: client(self.socket, "ping")[0] == 0, timeout=30, interval=0.2)

    def close(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            client(self.socket, "stop")
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
        self.proc = None


def compat_warden(root: Path) -> Server:
    """A warden daemon (not started) with the same jail as the oracle and compat_socket on."""
    root.mkdir(parents=True, exist_ok=True)
    log = root / "auth.log"
    log.touch()
    server = Server(root, f"[sshd]\nenabled = true\nfilter = sshd\naction = noop\n"
                          f"logpath = {log}\n{JAIL}",
                    settings=f"compat_socket = {root}/f2b/fail2ban.sock\n")
    # the oracle's do-nothing action, under the same name
    (server.conf / "action.d" / "noop.conf").write_text(
        "[Definition]\nactionstart =\nactionstop =\nactioncheck =\nactionban =\n"
        "actionunban =\n")
    return server


@pytest.fixture
def warden(tmp_path: Path, servers: list[Server]) -> Server:
    server = compat_warden(tmp_path / "warden")
    servers.append(server)
    return server.start()


def _compat(server: Server) -> Path:
    return server.root / "f2b" / "fail2ban.sock"


@pytest.fixture
def oracle(tmp_path: Path) -> Iterator[Fail2banServer]:
    if SERVER is None:
        pytest.skip("needs fail2ban-server")
    f2b = Fail2banServer(tmp_path / "fail2ban")
    try:
        f2b.start()
        yield f2b
    finally:
        f2b.close()


_STAMP = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d")


def test_fail2ban_client_prints_the_same_for_warden_as_for_fail2ban(
        warden: Server, oracle: Fail2banServer,
        f2b_client: Callable[..., tuple[int, str]]) -> None:
    ours = _compat(warden)
    assert stat.S_IMODE(os.stat(ours).st_mode) == 0o600
    wlog = warden.root / "auth.log"
    # two failures of one address in both logs: Currently failed 1, Total failed 2
    for log in (wlog, oracle.log):
        append(log, failure_line("198.51.100.7") + failure_line("198.51.100.7"))
    for sock in (ours, oracle.socket):
        def counted(s: Path = sock) -> bool:
            return "Total failed:\t2" in client(s, "status", "sshd")[1]
        wait_for("the failures to be counted", counted, timeout=20, interval=0.3)

    steps = [("ping",), ("status",), ("status", "sshd"),
             ("set", "sshd", "banip", "192.0.2.9"), ("status", "sshd"),
             ("get", "sshd", "banip", "--with-time"), ("get", "sshd", "banip"),
             ("get", "sshd", "banned", "192.0.2.9"), ("banned", "192.0.2.9"),
             ("status", "nope"), ("set", "sshd", "unbanip", "192.0.2.9"),
             ("get", "sshd", "banip"), ("set", "sshd", "banip", "192.0.2.9"),
             ("unban", "--all"), ("status", "sshd", "short"),
             ("set", "sshd", "banip", "2001:db8::9", "192.0.2.10"), ("get", "sshd", "banip", ","),
             ("get", "sshd", "banned"), ("banned",), ("echo", "x", "y"), ("server-status",),
             ("set", "sshd", "unbanip", "--report-absent", "192.0.2.77"),
             ("unban", "2001:db8::9"), ("unban", "--all")]
    # the driver prints what the binary prints
    assert f2b_client(ours, "status") == client(ours, "status") == \
        (0, "Status\n|- Number of jail:\t1\n`- Jail list:\tsshd\n")
    assert f2b_client(ours, "get", "nope", "bantime") == client(ours, "get", "nope", "bantime")
    for step in steps:
        got = f2b_client(ours, *step)
        want = f2b_client(oracle.socket, *step)
        got = (got[0], _STAMP.sub("TIME", got[1].replace(str(wlog), "LOG")))
        want = (want[0], _STAMP.sub("TIME", want[1].replace(str(oracle.log), "LOG")))
        assert got == want, step
    # forms the client handles with its own reading of a tree (the oracle's, for both: warden
    # re-reads its own): the reloads answer OK, and start finds a server already running
    ok, failed = (0, "OK\n"), (255, "")
    for step, expected in ((("reload",), ok), (("reload", "sshd"), ok),
                           (("reload", "--restart", "--all"), ok), (("restart", "sshd"), ok),
                           (("restart", "--unban", "--if-exists", "nope"), failed),
                           (("start",), failed)):
        results = [f2b_client(sock, "-c", str(oracle.conf), *step)
                   for sock in (ours, oracle.socket)]
        assert results == [expected, expected], (step, results)
    assert "sshd" in f2b_client(ours, "status")[1]  # the jail runs after the restarts


def _same(warden: Server, oracle: Fail2banServer, steps: list[tuple[str, ...]],
          f2b_client: Callable[..., tuple[int, str]]) -> None:
    """Each step through fail2ban-client against both daemons: the same exit code and text
    (each daemon's own directory written as DIR, times as TIME)."""
    ours = _compat(warden)
    for step in steps:
        results = []
        for sock, root in ((ours, warden.root), (oracle.socket, oracle.conf.parent)):
            code, text = f2b_client(sock, *(word.replace("{dir}", str(root)) for word in step))
            results.append((code, _STAMP.sub("TIME", text.replace(str(root), "DIR"))))
        assert results[0] == results[1], step


#: ``get``, ``set``, status flavors and jail control, in an order that keeps the states alike
GET_SET_STEPS: list[tuple[str, ...]] = [
    *(("get", "sshd", option) for option in (
        "maxretry", "bantime", "findtime", "maxmatches", "maxlines", "usedns", "ignoreself",
        "ignoreip", "ignorecommand", "ignorecache", "logpath", "logencoding", "journalmatch",
        "datepattern", "logtimezone", "ignoreregex", "actions", "bantime.increment",
        "bantime.factor", "bantime.formula", "bantime.multipliers", "bantime.maxtime",
        "bantime.rndtime", "bantime.overalljails", "nothing")),
    ("get", "sshd", "action", "noop", "actionban"), ("get", "sshd", "action", "noop", "timeout"),
    ("get", "loglevel"), ("get", "syslogsocket"), ("get", "dbpurgeage"), ("get", "nope", "bantime"),
    ("set", "sshd", "maxretry", "5"), ("get", "sshd", "maxretry"),
    ("set", "sshd", "maxretry", "x"), ("set", "sshd", "bantime", "2h"),
    ("set", "sshd", "findtime", "20m"), ("set", "sshd", "maxmatches", "7"),
    ("set", "sshd", "maxlines", "2"), ("set", "sshd", "usedns", "no"),
    ("set", "sshd", "ignoreself", "true"),
    ("set", "sshd", "addignoreip", "192.0.2.0/24", "198.51.100.1"),
    ("set", "sshd", "delignoreip", "192.0.2.0/24"), ("get", "sshd", "ignoreip"),
    ("set", "sshd", "ignorecommand", "/bin/false"), ("get", "sshd", "ignorecommand"),
    ("set", "sshd", "ignorecache", 'key="<ip>",max-time=5m'),
    ("set", "sshd", "logencoding", "ascii"), ("get", "sshd", "logencoding"),
    ("set", "sshd", "datepattern", "{^LN-BEG}"),
    ("set", "sshd", "addignoreregex", "^ignore this"), ("get", "sshd", "ignoreregex"),
    ("set", "sshd", "delignoreregex", "0"),
    ("set", "sshd", "bantime.increment", "true"), ("set", "sshd", "bantime.maxtime", "1d"),
    ("set", "sshd", "bantime.factor", "2"), ("get", "sshd", "bantime.increment"),
    ("set", "sshd", "addlogpath", "{dir}/extra.log", "tail"), ("get", "sshd", "logpath"),
    ("set", "sshd", "dellogpath", "{dir}/extra.log"),
    ("set", "sshd", "attempt", "192.0.2.44", "a failure"), ("set", "sshd", "nothing", "1"),
    ("set", "sshd", "idle", "on"), ("set", "sshd", "idle", "maybe"),
    ("set", "sshd", "idle", "off"),
    # an action of no action.d file: fail2ban's empty command action; then taken away
    ("set", "sshd", "addaction", "extra"), ("get", "sshd", "actions"),
    ("set", "sshd", "addaction", "extra"), ("set", "sshd", "delaction", "extra"),
    ("get", "sshd", "actions"), ("set", "sshd", "delaction", "extra"),
    # an action's commands and values, changed at run time
    ("set", "sshd", "action", "noop", "actionban", "echo <ip>"),
    ("get", "sshd", "action", "noop", "actionban"),
    ("set", "sshd", "action", "noop", "timeout", "30"),
    ("get", "sshd", "action", "noop", "timeout"),
    ("set", "sshd", "action", "noop", "myvalue", "x y"),
    ("get", "sshd", "action", "noop", "myvalue"),
    ("set", "sshd", "action", "nope", "actionban", "x"),
    ("set", "loglevel", "DEBUG"), ("get", "loglevel"), ("set", "loglevel", "INFO"),
    ("get", "dbmaxmatches"), ("set", "dbmaxmatches", "3"), ("get", "dbmaxmatches"),
    ("set", "dbpurgeage", "2d"), ("get", "dbpurgeage"), ("set", "dbfile", "{dir}/other.db"),
    ("status", "sshd", "basic"), ("status", "sshd", "short"), ("status", "sshd", "all"),
    # the log moves at run time; a target that cannot be opened fails and the log stays
    ("set", "logtarget", "{dir}/runtime.log"), ("get", "logtarget"),
    ("set", "logtarget", "{dir}/missing/x.log"), ("get", "logtarget"),
    ("set", "syslogsocket", "{dir}/syslog.sock"), ("get", "syslogsocket"),
    ("set", "syslogsocket", "auto"), ("get", "syslogsocket"),
    ("flushlogs",), ("stop", "sshd"), ("status",), ("stop", "sshd"),
]


#: manual bans in fail2ban-client's forms, for warden's own client
BAN_STEPS: list[tuple[str, ...]] = [
    ("set", "sshd", "banip", "192.0.2.9", "2001:db8::9"), ("get", "sshd", "banip"),
    ("get", "sshd", "banip", ","), ("get", "sshd", "banip", "--with-time"),
    ("get", "sshd", "banned"), ("get", "sshd", "banned", "192.0.2.9"),
    ("get", "sshd", "banned", "192.0.2.9", "192.0.2.1"), ("status", "sshd", "short"),
    ("set", "sshd", "unbanip", "--report-absent", "192.0.2.77"),
    ("set", "sshd", "unbanip", "192.0.2.9"), ("unban", "--all"),
]


def test_every_get_and_set_prints_the_same_for_warden_as_for_fail2ban(
        warden: Server, oracle: Fail2banServer,
        f2b_client: Callable[..., tuple[int, str]]) -> None:
    for root in (warden.root, oracle.conf.parent):
        (root / "extra.log").touch()
    _same(warden, oracle, GET_SET_STEPS, f2b_client)


def test_warden_own_client_prints_what_fail2ban_client_prints(
        warden: Server, oracle: Fail2banServer, f2b_client: Callable[..., tuple[int, str]],
        warden_client: Callable[..., tuple[int, str, str]]) -> None:
    """The same steps through warden's own client (``warden get sshd maxretry``...): what
    succeeds prints fail2ban-client's text; what fails fails, saying fail2ban's words."""
    for root in (warden.root, oracle.conf.parent):
        (root / "extra.log").touch()
    done = warden.cli("get", "sshd", "nothing")  # the driver prints what the command prints
    assert warden_client(warden, "get", "sshd", "nothing") == \
        (done.returncode, done.stdout, done.stderr) and done.returncode == 2
    assert warden_client(warden, "get", "sshd", "maxretry") == (0, "3\n", "")
    for step in BAN_STEPS + GET_SET_STEPS:
        code, want = f2b_client(oracle.socket, *(w.replace("{dir}", str(oracle.conf.parent))
                                                 for w in step))
        got = warden_client(warden, *(w.replace("{dir}", str(warden.root)) for w in step))
        want = _STAMP.sub("TIME", want.replace(str(oracle.conf.parent), "DIR"))
        if code == 0:
            assert (got[0], _STAMP.sub("TIME", got[1].replace(str(warden.root), "DIR"))) == \
                (0, want), step
        else:
            assert got[0] != 0 and got[1] == "", step
            assert want.strip().split(" (")[0] in got[2], step


def test_a_runtime_set_changes_the_running_daemon_until_the_next_reload(warden: Server) -> None:
    sock = _compat(warden)
    log, extra = warden.root / "auth.log", warden.root / "extra.log"
    extra.touch()
    # one failure of an address: counted under maxretry 3, not banned
    append(log, failure_line("192.0.2.31"))
    wait_for("the failure to be counted", lambda: warden.status("sshd").total_failed == 1)
    assert client(sock, "set", "sshd", "maxretry", "2") == (0, "2\n")
    # the failure counted before the set still counts: the second one bans
    append(log, failure_line("192.0.2.31"))
    wait_for("the ban under maxretry 2", lambda: "192.0.2.31" in warden.banned("sshd"))
    # a log file added at run time is followed
    assert client(sock, "set", "sshd", "addlogpath", str(extra))[0] == 0
    append(extra, failure_line("192.0.2.32") * 2)
    wait_for("the ban from the added file", lambda: "192.0.2.32" in warden.banned("sshd"))
    # warden's own client sees the same running jail
    done = warden.cli("get", "sshd", "maxretry")
    assert (done.returncode, done.stdout) == (0, "2\n")
    assert client(sock, "set", "loglevel", "DEBUG") == (0, "Current logging level is 'DEBUG'\n")
    # the log moves to another file: the next ban line is written there, not in the old one
    moved = warden.root / "moved.log"
    assert client(sock, "set", "logtarget", str(moved)) == (
        0, f"Current logging target is:\n`- {moved}\n")
    append(log, failure_line("192.0.2.33") * 2)
    wait_for("the ban line in the new log",
             lambda: moved.exists() and "[sshd] Ban 192.0.2.33" in moved.read_text())
    assert "192.0.2.33" not in warden.log_text()
    # then to syslog, through a socket of the test's: the ban line is one the stock
    # recidive filter reads once a syslog daemon has stamped it
    sink_path = warden.root / "syslog.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sink:
        sink.bind(str(sink_path))
        sink.settimeout(20)
        assert client(sock, "set", "syslogsocket", str(sink_path))[0] == 0
        assert client(sock, "set", "logtarget", "SYSLOG") == (
            0, "Current logging target is:\n`- SYSLOG\n")
        assert client(sock, "set", "sshd", "banip", "192.0.2.34") == (0, "1\n")
        message = ""
        while "Ban 192.0.2.34" not in message:
            message = sink.recv(65536).decode().split(">", 1)[1].rstrip("\x00")
    if (STOCK_RECIDIVE / "filter.d" / "recidive.conf").is_file():
        recidive = Filter(load_filter(STOCK_RECIDIVE, "recidive", backend="auto"))
        line = f"{time.strftime('%b %d %H:%M:%S')} host {message}"
        assert [f.fid for f in recidive.process(line, time.time()).failures] == ["192.0.2.34"]
    assert "192.0.2.34" not in moved.read_text()
    # an action.d action added at run time starts and is given the jail's bans; the next
    # ban reaches it too; taken away, it lifts them and stops; the jail's own action stays
    marks, started, stopped = (warden.root / n for n in ("marks", "started", "stopped"))
    (warden.conf / "action.d" / "mark.conf").write_text(
        f"[Definition]\nactionstart = touch {started}\nactionstop = touch {stopped}\n"
        f"actioncheck =\nactionban = echo +<ip> >> {marks}\n"
        f"actionunban = echo -<ip> >> {marks}\n")
    held = {"192.0.2.31", "192.0.2.32", "192.0.2.33", "192.0.2.34"}

    def marked() -> set[str]:
        return set(marks.read_text().split()) if marks.exists() else set()
    assert client(sock, "set", "sshd", "addaction", "mark") == (0, "mark\n")
    wait_for("the added action given the bans", lambda: {f"+{a}" for a in held} <= marked())
    assert started.exists() and not stopped.exists()
    assert client(sock, "get", "sshd", "actions") == (
        0, "The jail sshd has the following actions:\nnoop, mark\n")
    append(log, failure_line("192.0.2.35") * 2)
    wait_for("the next ban through the added action", lambda: "+192.0.2.35" in marked())
    held.add("192.0.2.35")
    # its ban command changed at run time: the next ban runs the new one
    assert client(sock, "set", "sshd", "action", "mark", "actionban",
                  f"echo =<ip> >> {marks}") == (0, f"echo =<ip> >> {marks}\n")
    assert client(sock, "set", "sshd", "banip", "192.0.2.36") == (0, "1\n")
    wait_for("the changed ban command", lambda: "=192.0.2.36" in marked())
    held.add("192.0.2.36")
    code, text = client(sock, "set", "sshd", "addaction", "py", "/tmp/x.py", "{}")
    assert code == 255 and "Python action" in text
    assert client(sock, "set", "sshd", "delaction", "mark") == (0, "None\n")
    wait_for("the removed action stopped", stopped.exists)
    assert {f"-{a}" for a in held} <= marked()
    assert held <= set(warden.banned("sshd"))
    # the native dummy (warden's dry run) with a target file, then moved to another file:
    # rebuilt on the new value, given the bans
    first, second = warden.root / "t1", warden.root / "t2"

    def written(path: Path) -> set[str]:
        return set(path.read_text().split()) if path.exists() else set()
    assert client(sock, "set", "sshd", "addaction", f"dummy[target={first}]") == (
        0, "dummy\n")
    wait_for("the dummy given the bans", lambda: {f"+{a}" for a in held} <= written(first))
    assert client(sock, "set", "sshd", "action", "dummy", "target", str(second)) == (
        0, f"{second}\n")
    wait_for("the rebuilt dummy given the bans",
             lambda: {f"+{a}" for a in held} <= written(second))
    # added again, then a reload (the files have no such actions): both released
    stopped.unlink()
    assert client(sock, "set", "sshd", "addaction", "mark") == (0, "mark\n")
    # a reload brings back what the files say (the log target and actions too); the bans stay
    done = warden.cli("reload")
    assert done.returncode == 0, done.stderr
    wait_for("the added actions released by the reload",
             lambda: stopped.exists() and not second.exists())
    assert client(sock, "get", "sshd", "actions") == (
        0, "The jail sshd has the following actions:\nnoop\n")
    assert client(sock, "get", "logtarget") == (
        0, f"Current logging target is:\n`- {warden.logfile}\n")
    assert client(sock, "get", "syslogsocket") == (0, "Current syslog socket is:\n`- auto\n")
    wait_for("the log back in its file",
             lambda: "log target changed from SYSLOG to" in warden.log_text())
    assert client(sock, "get", "sshd", "maxretry") == (0, "3\n")
    assert client(sock, "get", "sshd", "logpath") == (
        0, f"Current monitored log file(s):\n`- {log}\n")
    assert held <= set(warden.banned("sshd"))
    # stop JAIL, then start JAIL brings it back from the configuration with its bans
    assert client(sock, "stop", "sshd") == (0, "Jail stopped\n")
    assert client(sock, "status") == (0, "Status\n|- Number of jail:\t0\n`- Jail list:\t\n")
    assert client(sock, "start", "sshd") == (0, "Jail started\n")
    wait_for("the bans restored", lambda: {"192.0.2.31", "192.0.2.32"}
             <= set(warden.banned("sshd")))


def test_fail2ban_client_drives_warden(warden: Server) -> None:
    sock = _compat(warden)
    assert client(sock, "ping") == (0, "Server replied: pong\n")
    assert client(sock, "status") == (0, "Status\n|- Number of jail:\t1\n`- Jail list:\tsshd\n")
    assert client(sock, "set", "sshd", "banip", "192.0.2.9", "2001:db8::9") == (0, "2\n")
    # the ban is warden's own: its client and its store see it
    assert set(warden.banned("sshd")) == {"192.0.2.9", "2001:db8::9"}
    code, text = client(sock, "get", "sshd", "banip", "--with-time")
    lines = text.splitlines()
    assert code == 0 and len(lines) == 2
    for line in lines:
        found = re.fullmatch(rf"(\S+) \t({_STAMP.pattern}) \+ 3600 = ({_STAMP.pattern})", line)
        assert found is not None, line
        start, end = (time.mktime(time.strptime(found[i], "%Y-%m-%d %H:%M:%S")) for i in (2, 3))
        assert end - start == 3600
    code, text = client(sock, "status", "sshd")
    assert code == 0 and "Currently banned:\t2" in text and "192.0.2.9" in text
    # a refused manual ban says why and bans nothing, as warden's own client does
    code, text = client(sock, "set", "sshd", "banip", "127.0.0.1")
    assert code == 255 and "loopback" in text and "127.0.0.1" not in warden.banned()
    assert client(sock, "unban", "--all") == (0, "2\n")
    assert warden.banned() == {}
    assert client(sock, "stop") == (0, "Shutdown successful\n")
    assert warden.proc is not None and warden.proc.wait(20) == 0
    assert not sock.exists()


# -- pickles that must not run ------------------------------------------------------------
class _Payload:
    """Pickles as a call of ``os.system`` (what an attacker's pickle does)."""

    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return os.system, (self.command,)


class _Instance:
    """Any class instance at all."""

    def __init__(self) -> None:
        self.words = ["ping"]


def _raw(sock: socket.socket, message: bytes) -> tuple[int, object]:
    """Send one framed message and read the framed answer (our own reply: plain pickle)."""
    sock.sendall(message + END)
    data = b""
    while not data.endswith(END):
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed")
        data += chunk
    code, result = pickle.loads(data[:-len(END)])
    return code, result


def _nested(depth: int) -> list[object]:
    value: list[object] = ["ping"]
    for _ in range(depth):
        value = [value]
    return value


def _doubling(times: int) -> list[object]:
    value: list[object] = ["x"]
    for _ in range(times):
        value = [value, value]  # shared through the memo: small pickle, 2**times values
    return value


def test_a_pickle_building_anything_else_is_refused_and_runs_nothing(warden: Server) -> None:
    marker = warden.root / "pwned"
    shell = f"touch {marker}"
    evil = {
        "GLOBAL+REDUCE (protocol 0)": f"cos\nsystem\n(S'{shell}'\ntR.".encode(),
        "STACK_GLOBAL+REDUCE": pickle.dumps(_Payload(shell), protocol=4),
        "os.system inside the command list": pickle.dumps(["ping", _Payload(shell)], 4),
        "class instance": pickle.dumps(_Instance(), protocol=4),
        "set": pickle.dumps(["ping", {"a"}], protocol=4),
        "bytearray": pickle.dumps(["ping", bytearray(b"x")], protocol=5),
        "deeply nested": pickle.dumps(_nested(200), protocol=4),
        "exponential through the memo": pickle.dumps(_doubling(30), protocol=4),
        "garbage": b"\x80\x04not a pickle",
    }
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(20)
        sock.connect(os.fspath(_compat(warden)))
        for name, message in evil.items():
            code, error = _raw(sock, message)
            assert code == 1 and isinstance(error, Exception), name
            assert not marker.exists(), name
            # the connection stays usable
            assert _raw(sock, pickle.dumps(["ping"], protocol=4)) == (0, "pong"), name
        # plain values of every allowed type are fine (echo returns them)
        plain = ["echo", "x", b"y", 1, 2.5, True, None, ["a"], ("b",), {"k": "v"}]
        assert _raw(sock, pickle.dumps(plain, protocol=4)) == (0, plain[1:])
    # a message longer than the bound: an error answer, then the connection is closed
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(20)
        sock.connect(os.fspath(_compat(warden)))
        sock.sendall(b"x" * (1024 * 1024 + 1))  # all read by the daemon: no reset
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
        code, error = pickle.loads(data[:-len(END)])
        assert code == 1 and "longer than" in str(error)
    assert not marker.exists()
    assert client(_compat(warden), "ping") == (0, "Server replied: pong\n")
    assert "refused" in warden.log_text()


def test_a_running_fail2ban_server_on_the_socket_is_left_alone(
        tmp_path: Path, oracle: Fail2banServer) -> None:
    server = compat_warden(tmp_path / "warden")
    conf = server.conf / "warden.conf"
    conf.write_text(conf.read_text().replace(str(_compat(server)), str(oracle.socket)))
    done = subprocess.run(server.argv("server", "-f", "--logtarget", "STDERR"),
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 1
    assert (f"cannot serve fail2ban's protocol on {oracle.socket}: a daemon already listens "
            "there (fail2ban-server?)") in done.stderr
    assert "Traceback" not in done.stderr and "started" not in done.stderr
    # fail2ban keeps serving on its socket, and warden left nothing behind
    assert client(oracle.socket, "ping") == (0, "Server replied: pong\n")
    assert not server.socket.exists()
