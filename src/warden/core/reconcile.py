"""Reconciling a jail's firewall with the store after a (re)start: a pure decision.

The kernel is evidence. An element the firewall holds for a jail is only removed when the
store has positively ended that ban (an end record: manual unban, expiry, flush, jail removed;
or a history entry whose ban is over) *after* the kernel got the element. Any other element
the store does not know (a new database after corruption, bans a full disk kept out) is
adopted: it becomes an active ban again, for the time the kernel still gives it.

Inputs are plain values (what the backends report, what the store holds, ``now``); the output
says which targets to add, which to remove and which to adopt. The daemon applies it.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass

from warden.core.addr import Network

__all__ = ["Adopted", "Held", "ReconcilePlan", "plan_reconcile"]

# The kernel reports times in whole seconds: an element whose estimated start is within this
# of the store's end of the ban is taken to be that same ban.
_SLACK = 1.0


@dataclass(frozen=True, slots=True)
class Held:
    """An element as the firewall holds it: seconds left of its kernel timeout and seconds
    since the kernel got it (each ``None`` when the element has no timeout or the firewall
    cannot tell)."""

    remaining: float | None = None
    age: float | None = None


@dataclass(frozen=True, slots=True)
class Adopted:
    """A ban taken over from the firewall: ``start`` and ``until`` (``None``: forever)."""

    target: Network
    start: float
    until: float | None


@dataclass(frozen=True, slots=True)
class ReconcilePlan:
    """What to change for one jail: ``add`` what the store wants and the firewall lacks,
    ``remove`` what the store ended, ``adopt`` what only the firewall knows."""

    add: tuple[Network, ...] = ()
    remove: tuple[Network, ...] = ()
    adopt: tuple[Adopted, ...] = ()


def plan_reconcile(present: Mapping[Network, Held], wanted: Collection[Network],
                   ended: Mapping[Network, float], now: float, bantime: float
                   ) -> ReconcilePlan:
    """Decide one jail's reconciliation.

    ``present``: the firewall's elements; ``wanted``: the store's active bans; ``ended``: when
    the store last ended a ban of each target (end records and expired history); ``bantime``:
    the jail's ban time, given to adopted elements that have no kernel timeout (negative:
    forever). The result lists targets in the order of their inputs.
    """
    add = tuple(net for net in wanted if net not in present)
    wanted = set(wanted)  # looked up once per element: 10,000 bans would be quadratic
    remove: list[Network] = []
    adopt: list[Adopted] = []
    for net, held in present.items():
        if net in wanted:
            continue
        if net in ended and _is_that_ban(held, ended[net], now):
            remove.append(net)
            continue
        start = now if held.age is None else now - held.age
        if held.remaining is not None:
            until: float | None = now + held.remaining
        else:
            until = None if bantime < 0 else now + bantime
        adopt.append(Adopted(net, start, until))
    return ReconcilePlan(add, tuple(remove), tuple(adopt))


def _is_that_ban(held: Held, ended_at: float, now: float) -> bool:
    """Whether the element is the ban the store ended (and not a later one it never saw)."""
    if held.age is None:
        return True  # nothing says it is newer: the store's word stands
    return now - held.age <= ended_at + _SLACK
