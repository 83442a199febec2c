"""The reconcile decision as a table: kernel elements, store bans, end records, now -> plan.

Each row reads: what the firewall holds (``addr=remaining/age``, ``-`` for unknown), what the
store wants, when the store ended a ban of each address, and the expected plan
(``+`` add, ``-`` remove, ``adopt ADDR START..UNTIL``).
"""

from __future__ import annotations

import ipaddress

import pytest

from warden.core.addr import Network
from warden.core.reconcile import Held, plan_reconcile

NOW = 10_000.0
BANTIME = 600.0


def _net(text: str) -> Network:
    return ipaddress.ip_network(text)


def _held(spec: str) -> tuple[Network, Held]:
    addr, _, times = spec.partition("=")
    left, _, age = times.partition("/")
    return _net(addr), Held(None if left in ("", "-") else float(left),
                            None if age in ("", "-") else float(age))


def _show(plan_add: tuple[Network, ...], plan_remove: tuple[Network, ...],
          adopted: list[str]) -> list[str]:
    return ([f"+ {n.network_address}" for n in plan_add]
            + [f"- {n.network_address}" for n in plan_remove] + adopted)


CASES = [
    # the store and the firewall agree: nothing to do
    (["192.0.2.1=300/300"], ["192.0.2.1"], {}, []),
    # the firewall lost a ban: add it
    ([], ["192.0.2.1"], {}, ["+ 192.0.2.1"]),
    # a new or corrupt store knows nothing: every kernel element is adopted with its time left
    (["192.0.2.1=300/300", "192.0.2.2=50/550"], [], {},
     ["adopt 192.0.2.1 9700..10300", "adopt 192.0.2.2 9450..10050"]),
    # an element without a timeout (a long ban, or ipset timeout 0): the jail's bantime from now
    (["192.0.2.3=-/-"], [], {}, ["adopt 192.0.2.3 10000..10600"]),
    # the store unbanned it after the kernel got it (the kernel delete was lost): remove
    (["192.0.2.4=300/300"], [], {"192.0.2.4": 9800.0}, ["- 192.0.2.4"]),
    # the end record is older than the element: a later ban the store never saw: adopt
    (["192.0.2.5=500/100"], [], {"192.0.2.5": 9000.0}, ["adopt 192.0.2.5 9900..10500"]),
    # within the kernel's one-second rounding it is the same ban
    (["192.0.2.6=300/300"], [], {"192.0.2.6": 9699.5}, ["- 192.0.2.6"]),
    # the firewall cannot say how old it is (ipset): the store's end stands
    (["192.0.2.7=300/-"], [], {"192.0.2.7": 9000.0}, ["- 192.0.2.7"]),
    (["192.0.2.8=-/-"], [], {"192.0.2.8": 1.0}, ["- 192.0.2.8"]),
    # an end record of another address changes nothing for this one
    (["192.0.2.9=300/300"], [], {"192.0.2.10": 9999.0}, ["adopt 192.0.2.9 9700..10300"]),
    # networks and IPv6 are targets like any other
    (["198.51.100.0/24=100/0", "2001:db8::1=-/-"], ["2001:db8::2"], {"198.51.100.0/24": 5.0},
     ["+ 2001:db8::2", "adopt 198.51.100.0 10000..10100", "adopt 2001:db8::1 10000..10600"]),
]


@pytest.mark.parametrize(("present", "wanted", "ended", "expected"), CASES)
def test_plan_table(present: list[str], wanted: list[str], ended: dict[str, float],
                    expected: list[str]) -> None:
    plan = plan_reconcile(dict(map(_held, present)), [_net(w) for w in wanted],
                          {_net(k): v for k, v in ended.items()}, NOW, BANTIME)
    adopted = [f"adopt {a.target.network_address} {a.start:g}..{a.until:g}" for a in plan.adopt]
    assert _show(plan.add, plan.remove, adopted) == expected


def test_an_element_without_timeout_in_a_permanent_jail_is_adopted_forever() -> None:
    plan = plan_reconcile({_net("192.0.2.1"): Held()}, [], {}, NOW, -1.0)
    assert [(a.start, a.until) for a in plan.adopt] == [(NOW, None)]
