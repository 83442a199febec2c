"""``warden explain`` of an address whose network is banned or counted (issue 14)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from types import MappingProxyType

from tests.daemon.fake_context import fake_context
from warden.cli.explain import render_explanation
from warden.core.escalate import parse_escalate
from warden.core.filter import Failure
from warden.daemon.explain import explain
from warden.protocol import ExplainReply


def test_an_address_inside_a_banned_64_is_explained_as_banned(tmp_path: Path) -> None:
    ctx = fake_context(tmp_path, "sshd")
    jail = ctx.jails["sshd"].jail
    jail.reconfigure(dataclasses.replace(jail.spec, banprefix6=64))
    now = ctx.clock
    for n in (1, 2):
        jail.add_failure(Failure(f"2001:db8:1:2::{n}", now, MappingProxyType({}), (), 0), now)
    counted = explain(ctx, "2001:db8:1:2::99")  # never failed itself: its /64 did, twice
    assert isinstance(counted, ExplainReply)
    (found,) = counted.jails
    assert (found.banned, found.failures) == (False, 2)
    jail.add_failure(Failure("2001:db8:1:2::3", now, MappingProxyType({}), (), 0), now)
    reply = explain(ctx, "2001:db8:1:2::99")
    assert isinstance(reply, ExplainReply)
    (found,) = reply.jails
    assert found.banned and found.until == now + 600
    # another /64 is not
    other = explain(ctx, "2001:db8:1:3::1")
    assert isinstance(other, ExplainReply) and other.jails == ()


def test_an_escalated_network_is_explained_with_its_members(tmp_path: Path) -> None:
    ctx = fake_context(tmp_path, "sshd")
    jail = ctx.jails["sshd"].jail
    jail.reconfigure(dataclasses.replace(jail.spec, maxretry=1,
                                         escalate=parse_escalate("3 in /24")))
    now = ctx.clock
    members = ("198.51.100.1", "198.51.100.2", "198.51.100.3")
    for addr in members:
        jail.add_failure(Failure(addr, now, MappingProxyType({}), (), 0), now)
    # an address that never failed, inside the network
    inside = explain(ctx, "198.51.100.77")
    assert isinstance(inside, ExplainReply)
    (found,) = inside.jails
    assert found.banned and (found.network, found.members) == ("198.51.100.0/24", members)
    text = render_explanation(inside)
    assert "inside the banned network 198.51.100.0/24, escalated:" in text
    assert "    3 of its addresses banned within findtime " in text
    assert f": {', '.join(members)}\n" in text
    # the network itself
    whole = explain(ctx, "198.51.100.0/24")
    assert isinstance(whole, ExplainReply)
    (found,) = whole.jails
    assert found.banned and (found.network, found.members) == ("", members)
    assert "  escalated:\n    3 of its addresses" in render_explanation(whole)
    # a member: its own ban, and the network it is inside
    member = explain(ctx, "198.51.100.2")
    assert isinstance(member, ExplainReply)
    (found,) = member.jails
    assert (found.network, found.members) == ("198.51.100.0/24", members)
    # a network banned by banprefix or by hand has no members
    jail.ban("203.0.113.0/24", now)
    held = explain(ctx, "203.0.113.9")
    assert isinstance(held, ExplainReply)
    (manual,) = held.jails
    assert (manual.network, manual.members) == ("203.0.113.0/24", ())
    assert "escalated" not in render_explanation(ExplainReply("203.0.113.9", (manual,)))
