"""What the CLI prints for each response type, and how its grammar becomes requests."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from warden.cli.control import GrammarError, request_for
from warden.cli.main import build_parser
from warden.cli.render import Compat, exit_code, render, render_json
from warden.protocol import (
    BanInfo,
    BannedReply,
    BannedRequest,
    BanReply,
    BanRequest,
    DoneReply,
    FailedReply,
    FleetInfo,
    JailStatusReply,
    OriginCount,
    PingRequest,
    PongReply,
    ReloadRequest,
    ServerStatusReply,
    SourceInfo,
    StatusRequest,
    StopRequest,
    UnbanReply,
    UnbanRequest,
)

STATUS = JailStatusReply("sshd", 1, 7, (SourceInfo("/var/log/auth.log"),
                                   SourceInfo("/var/log/x.log", "missing")),
                    2, 3, ("192.0.2.1", "2001:db8::1"))


def test_jail_status_is_fail2ban_clients_tree() -> None:
    assert render(STATUS) == (
        "Status for the jail: sshd\n"
        "|- Filter\n"
        "|  |- Currently failed:\t1\n"
        "|  |- Total failed:\t7\n"
        "|  `- File list:\t/var/log/auth.log /var/log/x.log (missing)\n"
        "`- Actions\n"
        "   |- Currently banned:\t2\n"
        "   |- Total banned:\t3\n"
        "   `- Banned IP list:\t192.0.2.1 2001:db8::1")


def test_counts_only_status_is_the_tree_without_the_list() -> None:
    counts = JailStatusReply("sshd", 1, 7, (SourceInfo("/var/log/auth.log"),), 100_000, 100_003)
    assert render(counts) == (
        "Status for the jail: sshd\n"
        "|- Filter\n"
        "|  |- Currently failed:\t1\n"
        "|  |- Total failed:\t7\n"
        "|  `- File list:\t/var/log/auth.log\n"
        "`- Actions\n"
        "   |- Currently banned:\t100000\n"
        "   `- Total banned:\t100003")
    assert json.loads(render_json(counts))["banned"] is None


def test_server_status_lists_jails() -> None:
    assert render(ServerStatusReply(("sshd", "nginx"))) == (
        "Status\n|- Number of jail:\t2\n`- Jail list:\tsshd, nginx")
    with_details = render(ServerStatusReply(("sshd",), (STATUS,)))
    assert with_details.startswith("Status\n") and "Status for the jail: sshd" in with_details


FLEET = FleetInfo("b", True, ("a", "c"), 0.04, 2, 10, 7, 1)


def test_server_status_with_a_fleet_appends_its_block_after_fail2bans_lines() -> None:
    assert render(ServerStatusReply(("sshd",), fleet=FLEET)) == (
        "Status\n|- Number of jail:\t1\n`- Jail list:\tsshd\n"
        "Fleet: b\n"
        "|- Connected:\tyes\n"
        "|- Peers:\t2 (a, c)\n"
        "|- Lag:\t0.0 s\n"
        "|- Outbox:\t2\n"
        "`- Entries:\t10 published, 7 applied, 1 refused")
    alone = FleetInfo("b", False, error="Error 111 connecting")
    lines = render(ServerStatusReply(("sshd",), (STATUS,), alone)).split("\n")
    assert lines[3] == "Status for the jail: sshd"  # --all: fail2ban's trees come first
    assert lines[-6:-3] == ["Fleet: b", "|- Connected:\tno (Error 111 connecting)",
                            "|- Peers:\t0"]
    assert json.loads(render_json(ServerStatusReply(("sshd",), fleet=FLEET)))["fleet"][
        "peers"] == ["a", "c"]


def test_jail_status_with_a_fleet_adds_one_line_after_the_banned_list() -> None:
    remote = JailStatusReply("sshd", 0, 0, (SourceInfo("/var/log/auth.log"),), 5, 6,
                             ("192.0.2.1", "192.0.2.2"), (OriginCount("a", 3),
                                                          OriginCount("c", 1)))
    assert render(remote).split("\n")[-3:] == [
        "   |- Total banned:\t6",
        "   |- Banned IP list:\t192.0.2.1 192.0.2.2",
        "   `- Fleet bans:\t4 (from a: 3, c: 1)"]
    none_yet = JailStatusReply("sshd", 0, 0, (), 0, 0, None, ())
    assert render(none_yet).split("\n")[-1] == "   `- Fleet bans:\t0"


def test_banned_names_the_origin_of_a_remote_ban() -> None:
    bans = BannedReply((BanInfo("sshd", "192.0.2.1", 0.0, 65.0),
                        BanInfo("sshd", "2001:db8::1", 0.0, None, 1, "a")))
    assert render(bans) == "192.0.2.1    sshd  1:05\n2001:db8::1  sshd  permanent  from a"
    assert render(bans, Compat.WORDS) == "192.0.2.1 2001:db8::1"  # fail2ban's forms unchanged
    assert [b["origin"] for b in json.loads(render_json(bans))["bans"]] == [None, "a"]


def test_terse_fail2ban_forms() -> None:
    bans = BannedReply((BanInfo("sshd", "192.0.2.1", 0.0, 65.0), BanInfo("x", "2001:db8::1",
                                                                          0.0, None)))
    assert render(bans, Compat.LIST) == "['192.0.2.1', '2001:db8::1']"
    assert render(bans, Compat.WORDS) == "192.0.2.1 2001:db8::1"
    assert render(bans) == "192.0.2.1    sshd  1:05\n2001:db8::1  x  permanent"
    assert render(BannedReply(())) == "no address is banned"
    assert render(BanReply("sshd", ("192.0.2.1",), ("192.0.2.2",)), Compat.COUNT) == "1"
    assert render(BanReply("sshd", ("192.0.2.1",), ("192.0.2.2",))) == (
        "sshd: banned 1; already banned: 192.0.2.2")
    assert render(UnbanReply(2, ("192.0.2.9",)), Compat.COUNT) == "2"
    assert render(UnbanReply(2, ("192.0.2.9",))) == "unbanned 2; not banned: 192.0.2.9"
    assert render(PongReply()) == "Server replied: pong"
    assert render(DoneReply()) == "OK"


def test_exit_codes_and_json() -> None:
    assert exit_code(FailedReply("no such jail", "usage")) == 2
    assert exit_code(FailedReply("firewall refused")) == 1
    assert exit_code(FailedReply("refusing to ban ::/0: ...", "refused")) == 2  # usage: --force
    refused = FailedReply("refusing to ban ::/0: it covers every IPv6 address; use --force to "
                          "ban it anyway", "refused")
    assert render(refused) == refused.message
    # fail2ban's `set JAIL banip` (COUNT form) has no --force: say which command has
    assert render(refused, Compat.COUNT).split("\n") == [
        refused.message,
        "warden: 'set JAIL banip' has no force option; run 'warden ban JAIL ADDR... --force' "
        "instead"]
    assert exit_code(DoneReply("x")) == 0
    data = json.loads(render_json(STATUS))
    assert data["kind"] == "jail-status" and data["banned"] == ["192.0.2.1", "2001:db8::1"]
    assert data["files"][1] == {"path": "/var/log/x.log", "state": "missing", "error": ""}


def _parse(*argv: str) -> argparse.Namespace:
    args = build_parser().parse_args(list(argv))
    args.config_dir = args.config_dir or Path("/nonexistent")
    return args


@pytest.mark.parametrize(("argv", "request_", "compat"), [
    (["status"], StatusRequest(), Compat.NONE),
    (["status", "sshd"], StatusRequest("sshd"), Compat.NONE),
    (["status", "sshd", "--count"], StatusRequest("sshd", counts_only=True), Compat.NONE),
    (["status", "--all", "--count", "--json"], StatusRequest(all=True, counts_only=True),
     Compat.NONE),
    (["ping"], PingRequest(), Compat.NONE),
    (["stop"], StopRequest(), Compat.NONE),
    (["reload", "sshd", "--restart"], ReloadRequest("sshd", restart=True), Compat.NONE),
    (["ban", "sshd", "192.0.2.1", "2001:db8::/64"],
     BanRequest("sshd", ("192.0.2.1", "2001:db8::/64")), Compat.NONE),
    (["ban", "sshd", "0.0.0.0/0", "--force"], BanRequest("sshd", ("0.0.0.0/0",), force=True),
     Compat.NONE),
    (["unban", "192.0.2.1"], UnbanRequest(None, ("192.0.2.1",)), Compat.NONE),
    (["unban", "sshd", "192.0.2.1"], UnbanRequest("sshd", ("192.0.2.1",)), Compat.NONE),
    (["unban", "--all"], UnbanRequest(all=True), Compat.COUNT),
    (["banned", "192.0.2.1"], BannedRequest(("192.0.2.1",)), Compat.NONE),
    (["set", "sshd", "banip", "192.0.2.1"], BanRequest("sshd", ("192.0.2.1",)), Compat.COUNT),
    (["set", "sshd", "unbanip", "192.0.2.1"], UnbanRequest("sshd", ("192.0.2.1",)), Compat.COUNT),
    (["get", "sshd", "banned"], BannedRequest((), "sshd"), Compat.LIST),
    (["get", "sshd", "banip"], BannedRequest((), "sshd"), Compat.WORDS),
    (["-c", "/etc/x", "status", "--socket", "/s"], StatusRequest(), Compat.NONE),
])
def test_grammar(argv: list[str], request_: object, compat: Compat) -> None:
    assert request_for(_parse(*argv)) == (request_, compat)


@pytest.mark.parametrize(("argv", "needle"), [
    (["ban", "sshd"], "at least one address"),
    (["ban", "sshd", "hostname"], "'hostname' is not an IP address"),
    (["unban"], "give addresses"),
    (["unban", "--all", "192.0.2.1"], "takes no addresses"),
    (["set", "sshd"], "expected JAIL and a property"),
    (["get", "sshd"], "expected JAIL and a property"),
    (["status", "sshd", "cymru"], "Cymru"),
    (["restart"], "service manager"),
])
def test_grammar_errors(argv: list[str], needle: str) -> None:
    with pytest.raises(GrammarError, match=needle):
        request_for(_parse(*argv))
