"""``warden explain`` of an address whose network is banned or counted (issue 14)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from types import MappingProxyType

from tests.daemon.fake_context import fake_context
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
