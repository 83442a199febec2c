"""Taking over the bans the firewall holds and the store does not know (after a (re)start).

The store can come back short: moved aside as corrupt, deleted, or missing the bans a full
disk kept out. The firewall's elements are evidence of those bans. For each (re)started jail
:func:`adopt` asks the pure decision (:func:`warden.core.reconcile.plan_reconcile`) what to do
with every element the store has no active ban for, writes the adopted ones to the store as
active bans with the time the kernel still gives them, and gives them back to the core jail
(so ``status`` lists them and expiry unbans them). Only elements the store positively ended
stay unwanted, and the reconciliation that follows removes them.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Mapping, Sequence

from warden.core.addr import Network, format_target, parse_network
from warden.core.decisions import Ban
from warden.core.reconcile import Held, plan_reconcile
from warden.daemon.runtime import JailSlot
from warden.store import BanStore, StoredBan

__all__ = ["adopt"]

log = logging.getLogger("warden.server")

# addresses named in the one log line per jail; the rest are counted
_SHOWN = 10


def adopt(slots: Sequence[JailSlot], present: Mapping[str, Mapping[Network, Held]],
          restored: Sequence[Ban], store: BanStore, *, history_since: float, now: float
          ) -> list[Ban]:
    """Adopt, for each slot, the elements of ``present`` that the store neither wants
    (``restored``) nor ended; return the bans given back to the jails."""
    names = [s.config.name for s in slots if s.config.name in present]
    if not names:
        return []
    ended = _ends(store, names, history_since, now)
    out: list[Ban] = []
    for slot in slots:
        name = slot.config.name
        if name not in present:
            continue
        wanted = [b.ip for b in restored if b.jail == name and not isinstance(b.ip, str)]
        plan = plan_reconcile(present[name], wanted, ended.get(name, {}), now,
                              slot.jail.policy.bantime)
        if not plan.adopt:
            continue
        counts = {b.addr: b.count for b in _history(store, name, history_since)}
        records = []
        for found in plan.adopt:
            addr = format_target(found.target)
            bantime = -1.0 if found.until is None else found.until - found.start
            records.append(StoredBan(name, addr, found.start, bantime, counts.get(addr, 1)))
        bans = slot.jail.restore(records, now)
        taken = {b.address for b in bans}
        try:
            store.add_bans([r for r in records if r.addr in taken])
        except (sqlite3.Error, OSError) as exc:
            log.error("[%s] state database write failed (%s): %d adopted ban(s) are enforced "
                      "but not recorded", name, exc, len(bans))
        if bans:
            shown = ", ".join(b.address for b in bans[:_SHOWN])
            more = f" and {len(bans) - _SHOWN} more" if len(bans) > _SHOWN else ""
            log.warning("[%s] adopted %d bans the firewall held but the store did not: %s%s",
                        name, len(bans), shown, more)
        out.extend(bans)
    return out


def _history(store: BanStore, jail: str, since: float) -> list[StoredBan]:
    return [b for b in store.load_history(since) if b.jail == jail]


def _ends(store: BanStore, jails: Sequence[str], since: float, now: float
          ) -> dict[str, dict[Network, float]]:
    """When the store last ended a ban, per jail and target: end records, and history
    entries whose ban is over by ``now``."""
    found: dict[str, dict[Network, float]] = {name: {} for name in jails}

    def note(jail: str, addr: str, at: float) -> None:
        net = parse_network(addr)
        if net is not None and jail in found:
            found[jail][net] = max(at, found[jail].get(net, at))

    for (jail, addr), at in store.ends(jails).items():
        note(jail, addr, at)
    for ban in store.load_history(since):
        end = ban.end
        if end is not None and end <= now:
            note(ban.jail, ban.addr, end)
    return found
