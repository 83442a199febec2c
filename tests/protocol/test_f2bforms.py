"""warden's client in fail2ban-client's grammar: arguments to typed requests, and answers
printed as fail2ban-client 1.0.2 prints them (the e2e test compares with the real one)."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from warden.cli.control import fail2ban_words, request_for
from warden.cli.f2bforms import option_text
from warden.cli.main import build_parser
from warden.cli.render import Compat, render
from warden.protocol import (
    BanInfo,
    BannedReply,
    BannedRequest,
    FlushLogsRequest,
    JailControlRequest,
    JailGetRequest,
    JailSetRequest,
    ReloadRequest,
    ServerGetRequest,
    ServerSetRequest,
    StatusRequest,
    StopRequest,
    UnbanRequest,
)


def _parse(*argv: str) -> argparse.Namespace:
    args = build_parser().parse_args(list(argv))
    args.config_dir = args.config_dir or Path("/nonexistent")
    return args


@pytest.mark.parametrize(("argv", "request_", "compat"), [
    (["get", "sshd", "maxretry"], JailGetRequest("sshd", "maxretry"), Compat.OPTION),
    (["set", "sshd", "bantime", "1h"], JailSetRequest("sshd", "bantime", ("1h",)), Compat.OPTION),
    (["set", "sshd", "bantime", "-1"], JailSetRequest("sshd", "bantime", ("-1",)), Compat.OPTION),
    (["set", "sshd", "addignoreip", "192.0.2.1", "192.0.2.2"],
     JailSetRequest("sshd", "addignoreip", ("192.0.2.1", "192.0.2.2")), Compat.OPTION),
    (["get", "sshd", "action", "iptables", "actionban"],
     JailGetRequest("sshd", "action", ("iptables", "actionban")), Compat.OPTION),
    (["set", "sshd", "attempt", "192.0.2.1"], JailSetRequest("sshd", "attempt", ("192.0.2.1",)),
     Compat.OPTION),
    (["get", "loglevel"], ServerGetRequest("loglevel"), Compat.OPTION),
    (["set", "loglevel", "DEBUG"], ServerSetRequest("loglevel", ("DEBUG",)), Compat.OPTION),
    (["get", "sshd", "banip", "--with-time"], BannedRequest((), "sshd"), Compat.WITH_TIME),
    (["get", "sshd", "banned", "192.0.2.1"], BannedRequest(("192.0.2.1",), "sshd"),
     Compat.FLAGS),
    (["set", "sshd", "unbanip", "--report-absent", "192.0.2.1"],
     UnbanRequest("sshd", ("192.0.2.1",)), Compat.REPORT),
    (["status", "sshd", "short"], StatusRequest("sshd", counts_only=True), Compat.NONE),
    (["status", "sshd", "basic"], StatusRequest("sshd"), Compat.NONE),
    (["status", "sshd", "all"], StatusRequest("sshd"), Compat.NONE),
    (["start", "sshd"], JailControlRequest("start", "sshd"), Compat.OPTION),
    (["stop", "sshd"], JailControlRequest("stop", "sshd"), Compat.OPTION),
    (["stop"], StopRequest(), Compat.NONE),
    (["add", "web", "polling"], JailControlRequest("add", "web", "polling"), Compat.OPTION),
    (["flushlogs"], FlushLogsRequest(), Compat.OPTION),
    (["reload", "--all"], ReloadRequest(), Compat.NONE),
    (["reload", "--unban", "--if-exists", "sshd"], ReloadRequest("sshd", unban=True),
     Compat.IF_EXISTS),
    (["restart", "--unban", "sshd"], ReloadRequest("sshd", restart=True, unban=True),
     Compat.NONE),
])
def test_fail2ban_grammar(argv: list[str], request_: object, compat: Compat) -> None:
    assert request_for(_parse(*argv)) == (request_, compat)


def test_the_words_the_answer_is_printed_for() -> None:
    assert fail2ban_words(_parse("get", "sshd", "banip", "--with-time")) == \
        ["get", "sshd", "banip", "--with-time"]
    assert fail2ban_words(_parse("stop", "sshd")) == ["stop", "sshd"]
    assert fail2ban_words(_parse("flushlogs")) == ["flushlogs"]


@pytest.mark.parametrize(("words", "value", "text"), [
    ("get sshd maxretry", 3, "3"),
    ("get sshd ignoreself", False, "False"),
    ("get sshd ignorecache", None, "None"),
    ("set sshd ignorecache", ["<ip>", 100, 300], "['<ip>', 100, 300]"),
    ("get sshd usedns", "warn", "warn"),
    ("get sshd ignoreip", [], "No IP address/network is ignored"),
    ("set sshd addignoreip", ["192.0.2.0/24", "198.51.100.1"],
     "These IP addresses/networks are ignored:\n|- 192.0.2.0/24\n`- 198.51.100.1"),
    ("get sshd logpath", ["/var/log/auth.log"],
     "Current monitored log file(s):\n`- /var/log/auth.log"),
    ("get sshd logpath", [], "No file is currently monitored"),
    ("get sshd logencoding", "UTF-8", "Current log encoding is set to:\nUTF-8"),
    ("get sshd journalmatch", [], "No journal match filter set"),
    ("get sshd journalmatch", [["_SYSTEMD_UNIT=sshd.service", "_COMM=sshd"], ["A=1"]],
     "Current match filter:\n_SYSTEMD_UNIT=sshd.service _COMM=sshd + A=1"),
    ("get sshd datepattern", [None, "Default Detectors"],
     "Current date pattern set to: Default Detectors"),
    ("get sshd datepattern", ["%Y", "Year"], "Current date pattern set to: %Y (Year)"),
    ("get sshd datepattern", None, "Current date pattern set to: Not set/required"),
    ("get sshd failregex", ["^a <HOST>", "^b <HOST>"],
     "The following regular expression are defined:\n|- [0]: ^a <HOST>\n`- [1]: ^b <HOST>"),
    ("get sshd ignoreregex", [], "No regular expression is defined"),
    ("get sshd actions", ["noop", "mail"], "The jail sshd has the following actions:\nnoop, mail"),
    ("get sshd actions", [], "No actions for jail sshd"),
    ("get loglevel", "INFO", "Current logging level is 'INFO'"),
    ("get logtarget", "/var/log/w.log", "Current logging target is:\n`- /var/log/w.log"),
    ("get syslogsocket", "auto", "Current syslog socket is:\n`- auto"),
    ("get dbfile", "/var/lib/w.db", "Current database file is:\n`- /var/lib/w.db"),
    ("get dbfile", None, "Database currently disabled"),
    ("get dbpurgeage", 86400, "Current database purge age is:\n`- 86400seconds"),
    ("get sshd banned 192.0.2.1 192.0.2.2", [1, 0], "[1, 0]"),
    ("stop sshd", None, "Jail stopped"),
    ("start sshd", None, "Jail started"),
    ("flushlogs", "rolled over", "logs: rolled over"),
])
def test_answers_print_as_fail2ban_client_prints_them(words: str, value: object,
                                                      text: str) -> None:
    assert option_text(words.split(), value) == text


def test_banip_with_time_and_by_end() -> None:
    bans = BannedReply((BanInfo("sshd", "192.0.2.2", 1000.0, None),
                        BanInfo("sshd", "192.0.2.1", 1000.0, 600.0)))
    assert render(bans, Compat.WORDS) == "192.0.2.1 192.0.2.2"  # by end, endless last
    lines = render(bans, Compat.WITH_TIME, now=1000.0).split("\n")
    assert lines[0].startswith("192.0.2.1 \t") and " + 600 = " in lines[0]
    assert lines[1].endswith(" + -1 = 9999-12-31 23:59:59")
