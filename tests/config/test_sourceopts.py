"""The options of ``backend = systemd[...]`` and ``backend = syslog[...]`` as typed values."""

from __future__ import annotations

import pytest

from warden.config.sourceopts import (
    JournalBackend,
    SyslogBackend,
    backend_name,
    journal_backend,
    syslog_backend,
)


@pytest.mark.parametrize(("backend", "parsed"), [
    ("systemd", JournalBackend()),
    ("systemd[journalflags=1]", JournalBackend(flags=1)),
    ("systemd[journalflags=0x4]", JournalBackend(flags=4)),
    ("systemd[journalpath=/var/lib/machines/c1/var/log/journal]",
     JournalBackend(path="/var/lib/machines/c1/var/log/journal")),
    ('systemd[journalfiles="/a/*.journal /b/user-1000.journal"]',
     JournalBackend(files=("/a/*.journal", "/b/user-1000.journal"))),
    ("systemd[namespace=web, journalflags=0]", JournalBackend(flags=0, namespace="web")),
])
def test_journal_options(backend, parsed):
    assert journal_backend(backend) == parsed


@pytest.mark.parametrize(("backend", "message"), [
    ("systemd[journalflags=all]", "journalflags 'all' is not an integer"),
    ("systemd[journalflags=-1]", "must not be negative"),
    ("systemd[journalpath=relative/dir]", "is not an absolute directory"),
    ("systemd[journalfiles=]", "journalfiles is empty"),
    ("systemd[jornalpath=/x]", "unknown systemd backend option 'jornalpath'"),
    ("systemd[journalpath=/x", "']'"),
])
def test_bad_journal_options(backend, message):
    with pytest.raises(ValueError, match=message):
        journal_backend(backend)


@pytest.mark.parametrize("listen", ["udp:127.0.0.1:5514", "udp:localhost:0",
                                    "unix:/run/warden/log"])
def test_syslog_listen(listen):
    assert syslog_backend(f"syslog[listen={listen}]") == SyslogBackend(listen)


@pytest.mark.parametrize(("backend", "message"), [
    ("syslog", "syslog needs listen=ADDRESS"),
    ("syslog[listen=tcp:127.0.0.1:514]", "use udp:HOST:PORT"),
    ("syslog[listen=udp:127.0.0.1:70000]", "port beyond 65535"),
    ("syslog[listen=unix:relative]", "use udp:HOST:PORT"),
    ("syslog[listen=udp:127.0.0.1:514, port=1]", "unknown syslog backend option 'port'"),
])
def test_bad_syslog_listen(backend, message):
    with pytest.raises(ValueError, match=message):
        syslog_backend(backend)


def test_backend_name():
    assert backend_name(" SystemD[journalflags=1]") == "systemd"


def test_an_ipv6_listen_address_is_quoted():
    assert syslog_backend('syslog[listen="udp:[::1]:514"]') == SyslogBackend("udp:[::1]:514")
