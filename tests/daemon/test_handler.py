"""The one request handler, driven through its narrow protocol with a fake daemon.

No socket, store or firewall: :class:`tests.daemon.fake_context.FakeContext` holds real jails
and records what the handler asked the daemon to do.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.daemon.fake_context import FILTERS, FakeContext, fake_context
from warden.core.addr import format_target
from warden.core.decisions import Ban, Unban
from warden.daemon.handler import FleetView, RequestContext
from warden.daemon.service import handle
from warden.protocol import (
    BannedReply,
    BannedRequest,
    BanReply,
    BanRequest,
    DoneReply,
    FailedReply,
    FleetInfo,
    JailStatusReply,
    OriginCount,
    ReloadRequest,
    Request,
    Response,
    ServerStatusReply,
    SourceInfo,
    StatusRequest,
    StopRequest,
    UnbanReply,
    UnbanRequest,
)
from warden.sources.base import SourceState, SourceStatus

pytestmark = pytest.mark.skipif(not (FILTERS / "sshd.conf").exists(), reason="needs fail2ban")


def _ask(ctx: FakeContext, request: Request) -> Response:
    checked: RequestContext = ctx  # the fake is what mypy says the handler needs
    return asyncio.run(handle(checked, request))


def test_a_ban_is_decided_in_the_jail_and_carried_out(tmp_path: Path) -> None:
    ctx = fake_context(tmp_path, "sshd")
    assert _ask(ctx, BanRequest("sshd", ("192.0.2.9", "198.51.100.0/24"))) == BanReply(
        "sshd", ("192.0.2.9", "198.51.100.0/24"))
    bans = [d for d in ctx.carried if isinstance(d, Ban)]
    assert len(bans) == len(ctx.carried) == 2
    assert [format_target(d.ip) for d in bans] == ["192.0.2.9", "198.51.100.0/24"]
    assert all(d.until == ctx.clock + 600 for d in bans)
    # asked again: already banned, nothing new carried out
    assert _ask(ctx, BanRequest("sshd", ("192.0.2.9",))) == BanReply("sshd", (), ("192.0.2.9",))
    assert len(ctx.carried) == 2


def test_a_ban_of_the_hosts_own_address_is_refused_whole(tmp_path: Path) -> None:
    ctx = fake_context(tmp_path, "sshd", own=("127.0.0.0/8", "203.0.113.5"))
    answer = _ask(ctx, BanRequest("sshd", ("192.0.2.9", "203.0.113.5")))
    assert isinstance(answer, FailedReply) and answer.reason == "refused"
    assert "203.0.113.5" in answer.message
    assert ctx.carried == [] and not ctx.jails["sshd"].jail.is_banned("192.0.2.9")


def test_status_reports_counters_bans_and_the_sources_state(tmp_path: Path) -> None:
    ctx = fake_context(tmp_path, "sshd", "web")
    log = str(tmp_path / "auth.log")
    ctx.sources = [("auto", [SourceStatus(log, SourceState.RESTARTING, error="gone")]),
                   ("journal:other", [SourceStatus("journal", SourceState.OK)])]
    _ask(ctx, BanRequest("sshd", ("192.0.2.9",)))
    assert _ask(ctx, StatusRequest("sshd")) == JailStatusReply(
        "sshd", 0, 0, (SourceInfo(log, "restarting", "gone"),), 1, 1, ("192.0.2.9",))
    assert _ask(ctx, StatusRequest("sshd", counts_only=True)) == JailStatusReply(
        "sshd", 0, 0, (SourceInfo(log, "restarting", "gone"),), 1, 1, None)
    overview = _ask(ctx, StatusRequest())
    assert overview == ServerStatusReply(("sshd", "web"))


def test_banned_gives_the_time_left_by_the_daemons_clock(tmp_path: Path) -> None:
    ctx = fake_context(tmp_path, "sshd")
    _ask(ctx, BanRequest("sshd", ("192.0.2.9",)))
    ctx.clock += 100
    answer = _ask(ctx, BannedRequest(("192.0.2.9",)))
    assert isinstance(answer, BannedReply)
    assert [(b.jail, b.addr, b.remaining) for b in answer.bans] == [("sshd", "192.0.2.9", 500.0)]


def test_unban_all_lifts_every_jails_bans(tmp_path: Path) -> None:
    ctx = fake_context(tmp_path, "sshd", "web")
    _ask(ctx, BanRequest("sshd", ("192.0.2.9",)))
    _ask(ctx, BanRequest("web", ("192.0.2.10", "192.0.2.11")))
    ctx.carried.clear()
    assert _ask(ctx, UnbanRequest(all=True)) == UnbanReply(3)
    assert sorted(format_target(d.ip) for d in ctx.carried if isinstance(d, Unban)) == [
        "192.0.2.10", "192.0.2.11", "192.0.2.9"]
    assert _ask(ctx, UnbanRequest(None, ("192.0.2.9",))) == UnbanReply(0, ("192.0.2.9",))


def test_reload_and_stop_go_to_the_daemon_and_unknown_jails_are_named(tmp_path: Path) -> None:
    ctx = fake_context(tmp_path, "sshd")
    assert _ask(ctx, ReloadRequest("sshd", restart=True)) == DoneReply("OK (fake)")
    assert ctx.reloads == [("sshd", True, False)]
    assert _ask(ctx, StopRequest()) == DoneReply("Shutdown successful") and ctx.stops == 1
    assert _ask(ctx, StatusRequest("nope")) == FailedReply(
        "Sorry but the jail 'nope' does not exist (jails: sshd)", "usage")


def test_with_a_fleet_status_and_banned_name_where_remote_bans_came_from(tmp_path: Path) -> None:
    ctx = fake_context(tmp_path, "sshd", "web")
    _ask(ctx, BanRequest("sshd", ("192.0.2.1", "192.0.2.2", "192.0.2.3", "2001:db8::/64")))
    _ask(ctx, BanRequest("web", ("192.0.2.4",)))
    info = FleetInfo("b", True, ("a", "c"), 0.5, 1, 4, 3, 0)
    # 192.0.2.9 was taken from c but has expired since: it counts nowhere
    ctx.fleet = FleetView(info, {("sshd", "192.0.2.2"): "a", ("sshd", "2001:db8::/64"): "a",
                                 ("sshd", "192.0.2.3"): "c", ("web", "192.0.2.4"): "a",
                                 ("sshd", "192.0.2.9"): "c"})
    assert _ask(ctx, StatusRequest()) == ServerStatusReply(("sshd", "web"), (), info)
    status = _ask(ctx, StatusRequest("sshd", counts_only=True))
    assert isinstance(status, JailStatusReply)
    assert status.fleet_bans == (OriginCount("a", 2), OriginCount("c", 1))
    answer = _ask(ctx, BannedRequest())
    assert isinstance(answer, BannedReply)
    assert [(b.jail, b.addr, b.origin) for b in answer.bans] == [
        ("sshd", "192.0.2.1", None), ("sshd", "192.0.2.2", "a"), ("sshd", "192.0.2.3", "c"),
        ("sshd", "2001:db8::/64", "a"), ("web", "192.0.2.4", "a")]


def test_without_a_fleet_nothing_of_it_is_in_the_replies(tmp_path: Path) -> None:
    ctx = fake_context(tmp_path, "sshd")
    _ask(ctx, BanRequest("sshd", ("192.0.2.1",)))
    assert _ask(ctx, StatusRequest()) == ServerStatusReply(("sshd",), (), None)
    status = _ask(ctx, StatusRequest("sshd"))
    assert isinstance(status, JailStatusReply) and status.fleet_bans is None
    answer = _ask(ctx, BannedRequest())
    assert isinstance(answer, BannedReply) and answer.bans[0].origin is None
