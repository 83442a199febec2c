"""Daemon settings (warden.conf + command line) and the rate-limited log target."""

from __future__ import annotations

import logging
import socket
from pathlib import Path

import pytest

from warden.config import load_jails
from warden.daemon.logtarget import NOTICE, RateLimit, parse_level, setup_logging
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
