"""Answering ``warden explain ADDR``: each jail's ban, failures and ignore rules for it.

The active ban and the failures come from the running jail; the matched lines of the
latest ban from the store (so they survive restarts); the arithmetic from
:mod:`warden.core.explain`. Seen through :class:`~warden.daemon.handler.RequestContext`.
"""

from __future__ import annotations

from warden.core.addr import format_target, parse_network
from warden.core.explain import bantime_steps, ignore_checks, matched_lines
from warden.daemon.handler import RequestContext
from warden.protocol import (
    ExplainReply,
    FailedReply,
    IgnoreRuleInfo,
    JailExplanation,
    MatchedLineInfo,
    Response,
)

__all__ = ["explain"]


def explain(ctx: RequestContext, addr: str) -> Response:
    """The explanation of ``addr`` in every jail that bans it, counts failures of it or kept
    the lines of an earlier ban of it."""
    net = parse_network(addr)
    if net is None:
        return FailedReply(f"not an IP address or network: {addr!r}", "usage")
    key = format_target(net)
    now = ctx.now()
    kept = {b.jail: b for b in ctx.stored_matches(key)}
    found: list[JailExplanation] = []
    for name, slot in list(ctx.jails.items()):
        jail = slot.jail
        # an address inside a banned network (banprefix, escalate) is banned by it, and
        # counted under its network with countprefix
        active = jail.ban_of(net)
        wider = jail.bans.covering(net)
        network = format_target(wider[0]) if wider is not None else ""
        members = jail.members_of(wider[0] if wider is not None else net)
        failures = jail.tracker.count(jail.count_key(key))
        stored = kept.get(name)
        # the ban of a wider network is filed (store, history) under that network
        filed = active.key if active is not None else jail.count_key(key)
        if filed != key:
            stored = next((b for b in ctx.stored_matches(filed) if b.jail == name), stored)
        if active is None and not failures and stored is None:
            continue
        overall = jail.spec.increment.overalljails
        past = jail.history.lookup(filed, name, overall)
        banned_before = past.bans if past is not None else 0
        start: float | None
        if active is not None:
            # this ban's time came from the bans before it (overall: in every jail)
            prior = banned_before - 1 if overall else active.count - 1
            steps = bantime_steps(jail.policy, prior)
            start, until, count, length = active.time, active.until, active.count, \
                active.bantime
        else:
            steps = bantime_steps(jail.policy, banned_before)
            start = stored.start if stored is not None else None
            until = None
            count = stored.count if stored is not None else banned_before
            length = stored.bantime if stored is not None else steps.seconds
        lines = matched_lines(jail.filters, stored.matches, stored.start) \
            if stored is not None and (active is None or stored.start == active.time) else []
        following = bantime_steps(jail.policy, banned_before)
        cfg = slot.config
        own = tuple(ctx.self_addresses)
        ignoreip = [e for e in jail.spec.ignore if not (cfg.ignoreself and e in own)]
        checks = ignore_checks(key, ignoreip, ignoreself=cfg.ignoreself, self_addresses=own,
                               ignorecommand=cfg.ignorecommand)
        found.append(JailExplanation(
            jail=name, banned=active is not None, start=start, until=until,
            remaining=None if active is None or until is None else max(0.0, until - now),
            count=count, bantime=length, rule=steps.rule, steps=steps.steps,
            random=steps.random,
            matches=tuple(MatchedLineInfo(m.line, m.time, m.filter, m.regex, m.pattern)
                          for m in lines),
            failures=failures, maxretry=jail.spec.maxretry, findtime=jail.spec.findtime,
            ignore=tuple(IgnoreRuleInfo(c.rule, c.ignores, c.detail) for c in checks),
            next_bantime=following.seconds, next_steps=following.steps,
            network=network, members=members))
    return ExplainReply(key, tuple(found))
