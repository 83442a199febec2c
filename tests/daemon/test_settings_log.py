"""Daemon settings (warden.conf + command line) and the rate-limited log target."""

from __future__ import annotations

import array
import logging
import os
import re
import socket
import stat
import struct
import subprocess
import time
from pathlib import Path

import pytest

from tests.e2e.harness import Server
from warden.config import load_filter, load_jails
from warden.core.filter import Filter
from warden.daemon.logtarget import (
    JOURNAL_SOCKET,
    NOTICE,
    RateLimit,
    log_file,
    parse_level,
    setup_logging,
)
from warden.daemon.settings import DEFAULT_SOCKET, read_settings
from warden.errors import ConfigError


def _tree(tmp_path: Path, main: str, name: str = "warden") -> Path:
    (tmp_path / f"{name}.conf").write_text(main)
    (tmp_path / "jail.conf").write_text("[DEFAULT]\n")
    return tmp_path


def test_settings_from_warden_conf_and_overrides(tmp_path: Path) -> None:
    conf = _tree(tmp_path, "[Definition]\nsocket = /x/w.sock\npidfile = /x/w.pid\n"
                           "dbfile = /x/w.db\ndbpurgeage = 2d\nloglevel = NOTICE\n"
                           "logtarget = /x/w.log\n")
    settings = read_settings(load_jails(conf).settings, foreground=False)
    assert (str(settings.socket), str(settings.pidfile), settings.dbfile) == (
        "/x/w.sock", "/x/w.pid", "/x/w.db")
    assert (settings.dbpurgeage, settings.loglevel, settings.logtarget) == (
        172800.0, NOTICE, "/x/w.log")
    # -f logs to stderr unless --logtarget is given; options win over the file
    fg = read_settings(load_jails(conf).settings, foreground=True, socket=Path("/y.sock"),
                       dbfile=":memory:", loglevel="debug")
    assert (fg.logtarget, str(fg.socket), fg.dbfile, fg.loglevel) == (
        "STDERR", "/y.sock", ":memory:", logging.DEBUG)
    assert read_settings({}, foreground=False).socket == DEFAULT_SOCKET


def test_fail2ban_database_is_never_used(tmp_path: Path) -> None:
    conf = _tree(tmp_path, "[Definition]\ndbfile = /var/lib/fail2ban/fail2ban.sqlite3\n",
                 name="fail2ban")
    settings = read_settings(load_jails(conf).settings, foreground=False)
    assert settings.dbfile == "/var/lib/fail2ban/warden.db"


@pytest.mark.parametrize(("text", "needle"), [
    ("[Definition]\nloglevel = LOUD\n", "warden.conf:2: unknown loglevel 'LOUD'"),
    ("[Definition]\n\ndbpurgeage = soon\n", "warden.conf:3: dbpurgeage"),
])
def test_bad_settings_name_file_and_line(tmp_path: Path, text: str, needle: str) -> None:
    conf = _tree(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        read_settings(load_jails(conf).settings, foreground=False)
    assert needle in str(info.value)


def test_levels() -> None:
    assert parse_level("info") == logging.INFO and parse_level("10") == 10
    with pytest.raises(ValueError, match="unknown loglevel"):
        parse_level("chatty")


def test_rate_limit_drops_a_flood_and_says_so() -> None:
    now = [0.0]
    limit = RateLimit(rate=10.0, burst=5.0, clock=lambda: now[0])

    def record(level: int = logging.INFO, msg: str = "x") -> logging.LogRecord:
        return logging.LogRecord("warden", level, __file__, 1, msg, (), None)

    passed = sum(limit.filter(record()) for _ in range(100))
    assert passed == 5 and limit.dropped == 95
    error = record(logging.ERROR, "bad")
    assert limit.filter(error)  # errors always pass, and tell what was dropped
    assert "[95 earlier messages suppressed by the rate limit]" in str(error.msg)
    now[0] = 1.0  # the bucket refills, up to its burst
    assert sum(limit.filter(record()) for _ in range(100)) == 5


def test_ban_lines_are_never_dropped() -> None:
    # recidive counts "[jail] Ban ADDR" lines: a burst of bans must reach the log whole.
    now = [0.0]
    limit = RateLimit(rate=10.0, burst=5.0, clock=lambda: now[0])

    def record(level: int, msg: str) -> logging.LogRecord:
        return logging.LogRecord("warden", level, __file__, 1, msg, (), None)

    assert sum(limit.filter(record(logging.INFO, "x")) for _ in range(50)) == 5
    bans = [record(NOTICE, f"[sshd] Ban 192.0.2.{i}") for i in range(200)]
    assert all(limit.filter(ban) for ban in bans)
    assert "45 earlier messages suppressed" in str(bans[0].msg)
    assert not limit.filter(record(logging.INFO, "y"))  # bans took no tokens, gave none back
    assert not limit.filter(record(logging.WARNING, "z"))  # warnings are still limited


def test_file_target_reopens_after_rotation(tmp_path: Path) -> None:
    path = tmp_path / "w.log"
    target = setup_logging(str(path), logging.INFO)
    try:
        log = logging.getLogger("warden.test")
        log.info("before")
        path.rename(tmp_path / "w.log.1")
        target.reopen()
        log.log(NOTICE, "after")
        target.handler.flush()
        assert "before" in (tmp_path / "w.log.1").read_text()
        text = path.read_text()
        assert "NOTICE  after" in text and "before" not in text
    finally:
        target.close()


def test_syslog_target_sends_to_the_socket(tmp_path: Path) -> None:
    path = tmp_path / "log.sock"
    sink = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sink.bind(str(path))
    sink.settimeout(5)
    try:
        target = setup_logging("SYSLOG", logging.INFO, syslogsocket=str(path))
        try:
            logging.getLogger("warden.jail").log(NOTICE, "[sshd] Ban 192.0.2.1")
            datagram = sink.recv(4096).decode()
        finally:
            target.close()
    finally:
        sink.close()
    # <29> = facility daemon (3) * 8 + priority notice (5)
    assert datagram.startswith("<29>warden[") and "NOTICE [sshd] Ban 192.0.2.1" in datagram


STOCK = Path("/etc/fail2ban")
OWN = Path(__file__).resolve().parents[2] / "src" / "warden" / "data"


def _write_bans(path: Path) -> list[str]:
    target = setup_logging(str(path), logging.INFO)
    try:
        actions = logging.getLogger("warden.actions")  # the runtime's ban and unban lines
        actions.log(NOTICE, "[sshd] Ban 192.0.2.1")
        actions.log(NOTICE, "[sshd] Unban 192.0.2.1")
        actions.log(NOTICE, "[recidive] Ban 192.0.2.2")
        actions.log(NOTICE, "[sshd] Restore Ban 192.0.2.3")
        logging.getLogger("warden.jail").info("[sshd] Found 192.0.2.4")
        actions.log(NOTICE, "[postfix] Ban 2001:db8::5")
    finally:
        target.close()
    return path.read_text().splitlines()


@pytest.mark.parametrize("tree", [
    pytest.param(STOCK, id="stock", marks=pytest.mark.skipif(
        not (STOCK / "filter.d" / "recidive.conf").is_file(), reason="needs fail2ban")),
    pytest.param(OWN, id="own")])
def test_file_log_is_what_recidive_reads(tmp_path: Path, tree: Path) -> None:
    lines = _write_bans(tmp_path / "w.log")
    # fail2ban's layout: name padded to 24, then [pid], level padded to 7
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} fail2ban\.actions {8}"
                        rf"\[{os.getpid()}\]: NOTICE  \[sshd\] Ban 192\.0\.2\.1", lines[0])
    assert re.match(r"\S+ \S+ warden\.jail {13}\[\d+\]: INFO    \[sshd\] Found", lines[4])
    recidive = Filter(load_filter(tree, "recidive", backend="auto"))
    found = []
    for line in lines:
        result = recidive.process(line, 2e9)
        found += [f.fid for f in result.failures]
    assert found == ["192.0.2.1", "2001:db8::5"]


def _fields(datagram: bytes) -> dict[str, str]:
    """The journal's native protocol read back: KEY=value lines, or KEY, length, bytes."""
    fields: dict[str, str] = {}
    rest = datagram
    while rest:
        head, _, rest = rest.partition(b"\n")
        if b"=" in head:
            key, _, value = head.partition(b"=")
        else:
            (size,) = struct.unpack("<Q", rest[:8])
            key, value, rest = head, rest[8:8 + size], rest[8 + size + 1:]
        fields[key.decode()] = value.decode()
    return fields


def test_journal_target_speaks_the_native_protocol(tmp_path: Path) -> None:
    path = tmp_path / "journal.sock"
    sink = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sink.bind(str(path))
    sink.settimeout(5)
    try:
        target = setup_logging("SYSTEMD-JOURNAL", logging.INFO, journal=str(path))
        try:
            logging.getLogger("warden.actions").log(NOTICE, "[sshd] Ban 192.0.2.1")
            ban = _fields(sink.recv(65536))
            logging.getLogger("warden.jail").warning("two\nlines")
            warning = _fields(sink.recv(65536))
            big = "x" * 400_000  # beyond a datagram: sent as a memory file's descriptor
            logging.getLogger("warden.jail").error(big)
            _, ancillary, _, _ = sink.recvmsg(65536, socket.CMSG_SPACE(4))
            # journald restarts: a new socket at the same path gets the next entries
            sink.close()
            path.unlink()
            sink = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            sink.bind(str(path))
            sink.settimeout(5)
            logging.getLogger("warden.actions").log(NOTICE, "[sshd] Unban 192.0.2.1")
            after = _fields(sink.recv(65536))
        finally:
            target.close()
    finally:
        sink.close()
    assert after["MESSAGE"] == "[sshd] Unban 192.0.2.1"
    assert ban == {"MESSAGE": "[sshd] Ban 192.0.2.1", "PRIORITY": "5",
                   "SYSLOG_IDENTIFIER": "warden", "SYSLOG_PID": str(os.getpid()),
                   "LOGGER": "warden.actions"}
    assert (warning["MESSAGE"], warning["PRIORITY"]) == ("two\nlines", "4")
    fds = array.array("i")
    for level, kind, data in ancillary:
        assert (level, kind) == (socket.SOL_SOCKET, socket.SCM_RIGHTS)
        fds.frombytes(data)
    (fd,) = fds
    with os.fdopen(fd, "rb") as memfile:
        memfile.seek(0)
        large = _fields(memfile.read())
    assert (large["MESSAGE"], large["PRIORITY"]) == (big, "3")
    assert not (Path.cwd() / "SYSTEMD-JOURNAL").exists()


@pytest.mark.skipif(os.path.exists(JOURNAL_SOCKET), reason="this host has a journal")
def test_journal_target_without_a_journal_is_a_clear_start_error(tmp_path: Path) -> None:
    log = tmp_path / "auth.log"
    log.touch()
    server = Server(tmp_path, f"[sshd]\nenabled = true\nfilter = sshd\nlogpath = {log}\n")
    done = subprocess.run(server.argv("server", "-f", "--logtarget", "SYSTEMD-JOURNAL"),
                          cwd=tmp_path, capture_output=True, text=True, timeout=60,
                          check=False)
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip() == (
        f"warden: logtarget SYSTEMD-JOURNAL: no systemd journal to log to ({JOURNAL_SOCKET}: "
        "No such file or directory; is systemd-journald running?)")
    assert not (tmp_path / "SYSTEMD-JOURNAL").exists()  # no file of that name, as before


@pytest.mark.skipif(os.path.exists(JOURNAL_SOCKET), reason="this host has a journal")
def test_journal_target_is_not_a_file_in_the_working_directory(tmp_path: Path) -> None:
    # started from a directory others may write to: SYSTEMD-JOURNAL names no file there, so
    # that directory is no reason to refuse; the journal's absence is
    log = tmp_path / "auth.log"
    log.touch()
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    server = Server(tmp_path, f"[sshd]\nenabled = true\nfilter = sshd\nlogpath = {log}\n")
    done = subprocess.run(server.argv("server", "-f", "--logtarget", "SYSTEMD-JOURNAL"),
                          cwd=shared, capture_output=True, text=True, timeout=60,
                          check=False)
    assert done.returncode == 2, done.stderr
    assert "no systemd journal to log to" in done.stderr, done.stderr


@pytest.mark.parametrize(("target", "file"), [
    ("STDERR", None), ("stdout", None), ("SYSLOG", None), ("SYSLOG[facility=auth]", None),
    ("SYSTEMD-JOURNAL", None), (" /var/log/warden.log ", "/var/log/warden.log"),
    ("warden.log", "warden.log"),
])
def test_log_file_names_only_real_files(target: str, file: str | None) -> None:
    assert log_file(target) == file


def test_switch_moves_the_log_and_a_bad_target_leaves_it(tmp_path: Path) -> None:
    first, second = tmp_path / "a.log", tmp_path / "b.log"
    target = setup_logging(str(first), logging.INFO)
    try:
        log = logging.getLogger("warden.test")
        log.info("one")
        assert not target.switch(str(first), "auto")  # the same target: nothing changes
        # a file in a directory that does not exist (fail2ban makes none): OSError, old stays
        with pytest.raises(OSError):
            target.switch(str(tmp_path / "missing" / "c.log"), "auto")
        assert not (tmp_path / "missing").exists()
        log.info("two")
        assert target.switch(str(second), "auto") and target.target == str(second)
        log.info("three")
        target.handler.flush()
        assert stat.S_IMODE(second.stat().st_mode) == 0o600
    finally:
        target.close()
    assert re.findall(r"INFO    (\w+)", first.read_text()) == ["one", "two"]
    assert re.findall(r"INFO    (\w+)", second.read_text()) == ["three"]


@pytest.mark.skipif(not (STOCK / "filter.d" / "recidive.conf").is_file(), reason="needs fail2ban")
def test_switch_to_syslog_keeps_ban_lines_readable_by_recidive(tmp_path: Path) -> None:
    path = tmp_path / "log.sock"
    sink = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sink.bind(str(path))
    sink.settimeout(5)
    target = setup_logging(str(tmp_path / "w.log"), logging.INFO)
    try:
        with pytest.raises(OSError):  # no syslog daemon on that socket: the file stays
            target.switch("SYSLOG", str(tmp_path / "none.sock"))
        assert target.target == str(tmp_path / "w.log")
        assert target.switch("SYSLOG", str(path))
        logging.getLogger("warden.actions").log(NOTICE, "[sshd] Ban 192.0.2.1")
        datagram = sink.recv(4096).decode()
    finally:
        target.close()
        sink.close()
    # what a syslog daemon writes of it: its time and host, then the message after <PRI>
    message = datagram.split(">", 1)[1].rstrip("\x00")
    assert message.startswith(f"fail2ban.actions[{os.getpid()}]: NOTICE [sshd] Ban")
    line = f"{time.strftime('%b %d %H:%M:%S')} host {message}"
    recidive = Filter(load_filter(STOCK, "recidive", backend="auto"))
    assert [f.fid for f in recidive.process(line, time.time()).failures] == ["192.0.2.1"]


def test_syslog_moves_to_a_new_socket(tmp_path: Path) -> None:
    sinks = []
    for name in ("one.sock", "two.sock"):
        sink = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sink.bind(str(tmp_path / name))
        sink.settimeout(5)
        sinks.append(sink)
    target = setup_logging("SYSLOG", logging.INFO, syslogsocket=str(tmp_path / "one.sock"))
    try:
        log = logging.getLogger("warden.test")
        log.info("first")
        assert target.switch("SYSLOG", str(tmp_path / "two.sock"))
        log.info("second")
        got = [sink.recv(4096).decode() for sink in sinks]
    finally:
        target.close()
        for sink in sinks:
            sink.close()
    assert "INFO first" in got[0] and "INFO second" in got[1]
