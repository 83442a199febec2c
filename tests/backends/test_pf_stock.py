"""pf with Debian's stock ``/etc/fail2ban`` and with warden's own tree: the exact pfctl commands.

pf cannot run on Linux, so each test loads a real configuration tree, builds the native backend
the daemon would build for each jail (``native_action`` + ``create_backend``), drives it against
the pfctl model of ``fakes.py`` and compares the recorded argv and stdin with what is written
here by hand from pfctl(8), pf.conf(5) and fail2ban's ``action.d/pf.conf``:

- fail2ban's ``actionstart`` loads ``table <<tablename>-<name>> persist counters`` and
  ``<block> proto <protocol> from <<tablename>-<name>> to <actiontype>`` with ``<pfctl> -f-``,
  where ``pfctl = pfctl -a f2b/<name>``, ``<multiport>`` is ``any port $port`` with the port
  list in braces and ``<allports>`` is ``any``;
- ``actionban``/``actionunban`` are ``<pfctl> -t <tablename>-<name> -T add|delete <ip>``
  (warden passes every address of a commit to one ``-T add``, which pfctl(8) allows);
- ``pfctl -k HOST`` kills the states from a banned host (warden's addition).
"""

from __future__ import annotations

import io
import os
import shutil
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from warden.backends.base import BanEntry, JailRule, UnbanEntry
from warden.backends.commandaction import CommandAction
from warden.backends.pf import PfBackend, pf_settings
from warden.backends.registry import NativeAction, create_backend, native_action
from warden.backends.runner import Command, Completed, RecordingRunner
from warden.cli.init import HostFacts, run_init
from warden.config import JailConfig, load_jails
from warden.errors import BackendError

from .fakes import FakePfctl

STOCK = Path("/etc/fail2ban")
needs_stock = pytest.mark.skipif(not (STOCK / "action.d" / "pf.conf").is_file(),
                                 reason="needs fail2ban's action.d/pf.conf")

JAILS = f"""
[DEFAULT]
banaction = pf
banaction_allports = pf[actiontype=<allports>]
logpath = {os.devnull}

[sshd]
enabled = true

[sendmail-auth]
enabled = true
banaction = pf[actiontype=<allports>]
maxretry = 1
bantime = 1w

[recidive]
enabled = true
"""

Args = tuple[tuple[str, ...], str | None]


def _stock(tmp_path: Path, jail_local: str) -> Path:
    tree = tmp_path / "fail2ban"
    shutil.copytree(STOCK, tree, ignore=shutil.ignore_patterns("jail.d", "*.local"))
    (tree / "jail.local").write_text(jail_local)
    return tree


def _own(tmp_path: Path, jail_local: str) -> Path:
    tree = tmp_path / "warden"
    assert run_init(tree, io.StringIO(), io.StringIO(),
                    facts=HostFacts("FreeBSD", auth_log=True, journald=False)) == 0
    (tree / "jail.local").write_text(jail_local)
    return tree


def _jails(tree: Path) -> dict[str, JailConfig]:
    config = load_jails(tree)
    assert not config.errors, config.errors
    return {jail.name: jail for jail in config.jails}


def _spec(jail: JailConfig) -> NativeAction:
    (action,) = jail.actions
    spec = native_action(action.file, action.options or action.params, jail=jail.name,
                         port=jail.port, protocol=jail.protocol)
    assert spec is not None and spec.kind == "pf"
    return spec


def _ruleset(jail: JailConfig) -> str:
    spec = _spec(jail)
    backend = create_backend(spec, RecordingRunner(FakePfctl()))
    assert isinstance(backend, PfBackend)
    return backend.ruleset(spec.rule)


def _story(jail: JailConfig, fake: Callable[[Command], Completed]) -> list[Args]:
    """start, a commit of three bans and an unban, a restart: the recorded commands."""
    spec = _spec(jail)
    runner = RecordingRunner(fake)
    backend = create_backend(spec, runner)
    backend.start([spec.rule])
    backend.ban([BanEntry(jail.name, "192.0.2.7", 700.0), BanEntry(jail.name, "2001:db8::7"),
                 BanEntry(jail.name, "198.51.100.0/24", 700.0)])
    backend.unban([UnbanEntry(jail.name, "203.0.113.1")])
    backend.commit(100.0)
    create_backend(spec, runner).start([spec.rule])  # a restart
    return [(c.argv, c.stdin) for c in runner.commands]


def _expected(anchor: str, table: str, ruleset: str) -> list[Args]:
    a = ("pfctl", "-a", anchor)
    return [
        ((*a, "-s", "Tables"), None),
        ((*a, "-f", "-"), ruleset),
        ((*a, "-t", table, "-T", "delete", "203.0.113.1"), None),
        ((*a, "-t", table, "-T", "add", "192.0.2.7", "2001:db8::7", "198.51.100.0/24"), None),
        (("pfctl", "-k", "192.0.2.7"), None),
        (("pfctl", "-k", "2001:db8::7"), None),
        (("pfctl", "-k", "198.51.100.0/24"), None),
        ((*a, "-s", "Tables"), None),
        ((*a, "-R", "-f", "-"), ruleset),  # the table exists: rules only, the bans stay
    ]


@needs_stock
def test_stock_tree_gives_fail2ban_anchors_tables_and_rules(tmp_path: Path) -> None:
    jails = _jails(_stock(tmp_path, JAILS))
    fake = FakePfctl()
    assert _story(jails["sshd"], fake) == _expected("f2b/sshd", "f2b-sshd", (
        "table <f2b-sshd> persist counters\n"
        "block quick proto tcp from <f2b-sshd> to any port { ssh }\n"))
    assert fake.tables[("f2b/sshd", "f2b-sshd")] == {"192.0.2.7", "2001:db8::7",
                                                    "198.51.100.0/24"}
    # the week-long mail ban blocks every port, as pf[actiontype=<allports>] says
    assert _story(jails["sendmail-auth"], FakePfctl()) == _expected(
        "f2b/sendmail-auth", "f2b-sendmail-auth", (
            "table <f2b-sendmail-auth> persist counters\n"
            "block quick proto tcp from <f2b-sendmail-auth> to any\n"))
    assert _ruleset(jails["recidive"]) == (
        "table <f2b-recidive> persist counters\n"
        "block quick proto tcp from <f2b-recidive> to any\n")


def _sshd_with(tmp_path: Path, params: str) -> str:
    jail_local = (f"[sshd]\nenabled = true\nlogpath = {os.devnull}\nport = ssh,2222\n"
                  f"action = pf[{params}]\n" if params else
                  f"[sshd]\nenabled = true\nlogpath = {os.devnull}\nport = ssh,2222\n"
                  "action = pf\n")
    return _ruleset(_jails(_stock(tmp_path, jail_local))["sshd"])


PORTS = "{ ssh, 2222 }"


@needs_stock
@pytest.mark.parametrize(("params", "ruleset"), [
    ("", "table <f2b-sshd> persist counters\n"
         f"block quick proto tcp from <f2b-sshd> to any port {PORTS}\n"),
    ("actiontype=<multiport>", "table <f2b-sshd> persist counters\n"
     f"block quick proto tcp from <f2b-sshd> to any port {PORTS}\n"),
    ("actiontype=<allports>", "table <f2b-sshd> persist counters\n"
     "block quick proto tcp from <f2b-sshd> to any\n"),
    ('actiontype="any port 25"', "table <f2b-sshd> persist counters\n"
     "block quick proto tcp from <f2b-sshd> to any port 25\n"),
    ('actiontype="(self) port $port"', "table <f2b-sshd> persist counters\n"
     f"block quick proto tcp from <f2b-sshd> to (self) port {PORTS}\n"),
    ('multiport="any port $port flags S/SA"', "table <f2b-sshd> persist counters\n"
     f"block quick proto tcp from <f2b-sshd> to any port {PORTS} flags S/SA\n"),
    ('actiontype=<allports>, allports="! 192.0.2.1"', "table <f2b-sshd> persist counters\n"
     "block quick proto tcp from <f2b-sshd> to ! 192.0.2.1\n"),
    ("tablename=ban", "table <ban-sshd> persist counters\n"
     f"block quick proto tcp from <ban-sshd> to any port {PORTS}\n"),
    ('block="block log quick"', "table <f2b-sshd> persist counters\n"
     f"block log quick proto tcp from <f2b-sshd> to any port {PORTS}\n"),
    ('block="block return quick"', "table <f2b-sshd> persist counters\n"
     f"block return quick proto tcp from <f2b-sshd> to any port {PORTS}\n"),
    ("protocol=udp", "table <f2b-sshd> persist counters\n"
     f"block quick proto udp from <f2b-sshd> to any port {PORTS}\n"),
    ('protocol="{tcp udp}"', "table <f2b-sshd> persist counters\n"
     f"block quick proto {{ tcp, udp }} from <f2b-sshd> to any port {PORTS}\n"),
    ("port=2200:2210", "table <f2b-sshd> persist counters\n"
     "block quick proto tcp from <f2b-sshd> to any port { 2200:2210 }\n"),
], ids=["default", "multiport", "allports", "custom", "custom-port", "multiport-text",
        "allports-text", "tablename", "block-log", "block-return", "udp", "tcp-udp", "port"])
def test_every_parameter_of_the_stock_action_counts(tmp_path: Path, params: str,
                                                    ruleset: str) -> None:
    assert _sshd_with(tmp_path, params) == ruleset


@needs_stock
@pytest.mark.parametrize(("params", "anchor_args", "kill"), [
    ('pfctl="/usr/local/sbin/pfctl -a f2b/<name>"',
     ("/usr/local/sbin/pfctl", "-a", "f2b/sshd"), ("/usr/local/sbin/pfctl", "-k")),
    ('pfctl="pfctl -a fw/bans/<name>"', ("pfctl", "-a", "fw/bans/sshd"), ("pfctl", "-k")),
    ('pfctl="pfctl -q -a f2b/<name>"', ("pfctl", "-q", "-a", "f2b/sshd"), ("pfctl", "-q", "-k")),
    ("tablename=ban", ("pfctl", "-a", "f2b/sshd"), ("pfctl", "-k")),
], ids=["program", "anchor", "options", "tablename"])
def test_pfctl_and_tablename_name_the_commands(tmp_path: Path, params: str,
                                               anchor_args: tuple[str, ...],
                                               kill: tuple[str, ...]) -> None:
    jail = _jails(_stock(tmp_path, f"[sshd]\nenabled = true\nlogpath = {os.devnull}\n"
                                   f"action = pf[{params}]\n"))["sshd"]
    table = "ban-sshd" if "tablename" in params else "f2b-sshd"
    fake = FakePfctl()
    # the model knows no options before -a: it answers as if they were not there
    commands = _story(jail, lambda c: fake(Command(tuple(w for w in c.argv if w != "-q"),
                                                   c.stdin)))
    assert commands[0] == ((*anchor_args, "-s", "Tables"), None)
    assert commands[3] == ((*anchor_args, "-t", table, "-T", "add", "192.0.2.7", "2001:db8::7",
                            "198.51.100.0/24"), None)
    assert commands[4] == ((*kill, "192.0.2.7"), None)


@needs_stock
def test_jails_with_equal_parameters_share_one_backend(tmp_path: Path) -> None:
    jails = _jails(_stock(tmp_path, JAILS))
    assert _spec(jails["sshd"]).key()[1] != _spec(jails["sendmail-auth"]).key()[1]
    assert _spec(jails["sendmail-auth"]).key() == _spec(jails["recidive"]).key()


@needs_stock
def test_pfctl_without_an_anchor_is_refused_at_start(tmp_path: Path) -> None:
    # fail2ban would load its two lines as the whole main ruleset; warden refuses
    jail = _jails(_stock(tmp_path, f"[sshd]\nenabled = true\nlogpath = {os.devnull}\n"
                                   "action = pf[pfctl=pfctl]\n"))["sshd"]
    spec = _spec(jail)
    runner = RecordingRunner(FakePfctl())
    with pytest.raises(BackendError, match=r"^pf: pfctl = 'pfctl' names no anchor \(-a\)"):
        create_backend(spec, runner).start([spec.rule])
    assert runner.commands == []


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"block": "pass quick"}, "must start with 'block'"),
    ({"block": "block quick\npass all"}, "one non-empty line"),
    ({"target": "any # comment"}, "one non-empty line"),
    ({"table": "a-very-long-table-name-for-<name>"}, "at most 31 characters"),
])
def test_bad_parameters_are_one_line_errors_before_pf_is_touched(
        kwargs: dict[str, Any], message: str) -> None:
    runner = RecordingRunner(FakePfctl())
    with pytest.raises(BackendError, match=message):
        PfBackend(runner=runner, **kwargs).start([JailRule("sshd-long-name", ("ssh",))])
    assert runner.commands == []


def test_own_tree_uses_warden_anchors_with_fail2ban_parameters(tmp_path: Path) -> None:
    jails = _jails(_own(tmp_path, f"""
[DEFAULT]
logpath = {os.devnull}
[sshd]
enabled = true
[sendmail-auth]
enabled = true
banaction = %(banaction_allports)s
[postfix]
enabled = true
action = pf[actiontype=<allports>, block="block log quick", protocol="{{tcp udp}}"]
[dovecot]
enabled = true
action = pf[log=yes, tablename=mail]
"""))
    fake = FakePfctl()
    assert _story(jails["sshd"], fake) == _expected("warden/sshd", "warden-sshd", (
        "table <warden-sshd> persist counters\n"
        "block quick proto tcp from <warden-sshd> to any port { ssh }\n"))
    assert _ruleset(jails["sendmail-auth"]) == (
        "table <warden-sendmail-auth> persist counters\n"
        "block quick proto tcp from <warden-sendmail-auth> to any\n")
    assert _ruleset(jails["postfix"]) == (
        "table <warden-postfix> persist counters\n"
        "block log quick proto { tcp, udp } from <warden-postfix> to any\n")
    dovecot = _ruleset(jails["dovecot"]).splitlines()
    assert dovecot[0] == "table <mail-dovecot> persist counters"
    assert dovecot[1].startswith("block quick log proto tcp from <mail-dovecot> to any port { ")


def test_own_command_action_loads_table_and_rule_on_separate_lines(tmp_path: Path) -> None:
    # native=false runs the action file's own shell commands; a stand-in pfctl records them
    record = tmp_path / "pfctl.log"
    pfctl = tmp_path / "pfctl"
    pfctl.write_text(f'#!/bin/sh\necho "ARGS $*" >> {record}\ncat >> {record}\n')
    pfctl.chmod(pfctl.stat().st_mode | stat.S_IEXEC)
    jails = _jails(_own(tmp_path, f"""
[sshd]
enabled = true
logpath = {os.devnull}
action = pf[native=false, port="ssh,2222", pfctl="{pfctl} -a warden/<name>"]
"""))
    (action,) = jails["sshd"].actions
    assert native_action(action.file, action.options, jail="sshd") is None
    CommandAction("sshd", action.name, action.options).start()
    assert record.read_text() == (
        "ARGS -a warden/sshd -f-\n"
        "table <warden-sshd> persist counters\n"
        "block quick proto tcp from <warden-sshd> to any port { ssh,2222 }\n")


@pytest.mark.parametrize(("options", "settings"), [
    ({}, {"pfctl": "pfctl", "anchor": "warden/<name>", "table": "warden-<name>"}),
    ({"tablename": "f2b"}, {"pfctl": "pfctl", "anchor": "f2b/<name>", "table": "f2b-<name>"}),
    ({"tablename": "f2b", "pfctl": "/sbin/pfctl -a fw/<name>"},
     {"pfctl": "/sbin/pfctl", "anchor": "fw/<name>", "table": "f2b-<name>"}),
    # an actionban of a pf.local that is a shell pipeline is not taken over as a command
    ({"tablename": "f2b", "actionban": "pfctl -t f2b-<name> -T add <ip> | logger"},
     {"pfctl": "pfctl", "anchor": "f2b/<name>", "table": "f2b-<name>"}),
], ids=["nothing", "tablename", "pfctl", "pipeline"])
def test_without_a_plain_actionban_the_parameters_decide(options: dict[str, str],
                                                        settings: dict[str, str]) -> None:
    found, allports = pf_settings(options, "sshd")
    assert {k: found[k] for k in settings} == settings
    assert not allports
