"""The one contract every firewall backend passes (DESIGN.md: "each backend passes one shared
contract test"): start, ban, unban, flush, stop, idempotence, reconcile after a restart.

Backends that can run here run for real: nftables, iptables+ipset and route inside a network
namespace created by the test, hostsdeny on a temporary file. pf, ipfw and firewalld cannot
run on Linux; tests/backends/test_recorded.py checks the exact commands they would run.
"""

from __future__ import annotations

import ipaddress
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import pytest

from warden.backends.base import BanEntry, FirewallBackend, JailRule, Network, UnbanEntry
from warden.backends.dryrun import DryRunBackend
from warden.backends.firewalld import FirewalldBackend
from warden.backends.hostsdeny import HostsDenyBackend
from warden.backends.ipfw import IpfwBackend
from warden.backends.ipset import IpsetBackend
from warden.backends.nftables import NftablesBackend
from warden.backends.pf import PfBackend
from warden.backends.route import RouteBackend
from warden.backends.runner import Command, Completed, RecordingRunner, SubprocessRunner
from warden.errors import BackendError

from .fakes import FakeFirewallCmd, FakeIpfw, FakePfctl
from .netns import netns, wait_for

net = ipaddress.ip_network


@dataclass
class Harness:
    make: Callable[[], FirewallBackend]  # a new instance on the same kernel (= a restart)
    kernel_timeouts: bool


def _nftables(stack: ExitStack, tmp: Path) -> Harness:
    if shutil.which("nft") is None:
        pytest.skip("nft not installed")
    ns = stack.enter_context(netns())
    return Harness(lambda: NftablesBackend(runner=SubprocessRunner(("ip", "netns", "exec", ns))),
                   True)


def _ipset(stack: ExitStack, tmp: Path) -> Harness:
    if shutil.which("ipset") is None or shutil.which("iptables") is None:
        pytest.skip("ipset/iptables not installed")
    ns = stack.enter_context(netns())
    return Harness(lambda: IpsetBackend(runner=SubprocessRunner(("ip", "netns", "exec", ns))),
                   True)


def _route(stack: ExitStack, tmp: Path) -> Harness:
    ns = stack.enter_context(netns())
    return Harness(lambda: RouteBackend(runner=SubprocessRunner(("ip", "netns", "exec", ns))),
                   False)


def _hostsdeny(stack: ExitStack, tmp: Path) -> Harness:
    path = tmp / "hosts.deny"
    path.write_text("# the administrator's own line stays\nALL: 203.0.113.200\n")
    stack.callback(lambda: path.read_text().startswith("# the administrator") or pytest.fail(
        "hostsdeny lost the administrator's lines"))
    return Harness(lambda: HostsDenyBackend(path=str(path)), False)


def _recorded(kind: type, fake: Callable[[Command], Completed]) -> Harness:
    # pf, ipfw and firewalld cannot run on Linux: a model of the tool stands for the kernel
    return Harness(lambda: kind(runner=RecordingRunner(fake)), False)


def _dryrun(stack: ExitStack, tmp: Path) -> Harness:
    state: dict[str, dict[Network, float | None]] = {}
    return Harness(lambda: DryRunBackend(state), False)


HARNESSES: dict[str, Callable[[ExitStack, Path], Harness]] = {
    "nftables": _nftables,
    "dryrun": _dryrun,
    "ipset": _ipset,
    "route": _route,
    "hostsdeny": _hostsdeny,
    "pf (recorded)": lambda stack, tmp: _recorded(PfBackend, FakePfctl()),
    "ipfw (recorded)": lambda stack, tmp: _recorded(IpfwBackend, FakeIpfw()),
    "firewalld (recorded)": lambda stack, tmp: _recorded(FirewalldBackend, FakeFirewallCmd()),
}


@pytest.fixture(params=sorted(HARNESSES))
def harness(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Harness]:
    with ExitStack() as stack:
        yield HARNESSES[request.param](stack, tmp_path)


RULES = [JailRule("sshd", ("ssh", "2222"), ("tcp",)), JailRule("nginx-http-auth", ("80", "443"))]


def test_backend_contract(harness: Harness) -> None:
    now = time.time()
    backend = harness.make()
    assert isinstance(backend, FirewallBackend)
    backend.start(RULES)
    assert backend.banned("sshd") == set()

    first = [BanEntry("sshd", "192.0.2.7", now + 600), BanEntry("sshd", "2001:db8::7", now + 600),
             BanEntry("sshd", "198.51.100.0/24", None),
             BanEntry("sshd", "203.0.113.9", now - 1)]  # already expired: skipped
    backend.ban(first)
    backend.ban([BanEntry("nginx-http-auth", "192.0.2.7", now + 600)])
    backend.commit(now)
    expected = {net("192.0.2.7/32"), net("2001:db8::7/128"), net("198.51.100.0/24")}
    assert backend.banned("sshd") == expected
    assert backend.banned("nginx-http-auth") == {net("192.0.2.7/32")}

    # idempotence: banning again and unbanning what is not banned are no errors
    backend.ban(first[:2])
    backend.unban([UnbanEntry("sshd", "192.0.2.99"), UnbanEntry("sshd", "2001:db8::99")])
    backend.commit(now)
    assert backend.banned("sshd") == expected
    backend.start(RULES)  # start again: keeps every element
    assert backend.banned("sshd") == expected

    backend.unban([UnbanEntry("sshd", "192.0.2.7")])
    backend.commit(now)
    assert backend.banned("sshd") == expected - {net("192.0.2.7/32")}
    assert backend.banned("nginx-http-auth") == {net("192.0.2.7/32")}  # other jail untouched

    # restart: a new instance on the same kernel state, reconciled with the store's bans
    backend.stop()
    restarted = harness.make()
    restarted.start(RULES)
    assert restarted.banned("sshd") == expected - {net("192.0.2.7/32")}
    active = [BanEntry("sshd", "2001:db8::7", now + 600), BanEntry("sshd", "203.0.113.5", now + 60),
              BanEntry("nginx-http-auth", "192.0.2.7", now + 600)]
    done = restarted.reconcile(active, now)
    assert set(done.added) == {("sshd", net("203.0.113.5/32"))}
    assert set(done.removed) == {("sshd", net("198.51.100.0/24"))}
    assert restarted.banned("sshd") == {net("2001:db8::7/128"), net("203.0.113.5/32")}
    assert restarted.banned("nginx-http-auth") == {net("192.0.2.7/32")}

    restarted.flush("sshd")
    assert restarted.banned("sshd") == set()
    assert restarted.banned("nginx-http-auth") == {net("192.0.2.7/32")}

    with pytest.raises(BackendError, match="not started"):
        restarted.ban([BanEntry("recidive", "192.0.2.1")])
    restarted.stop(remove=True)
    again = harness.make()
    again.start(RULES)
    assert again.banned("nginx-http-auth") == set()
    again.stop(remove=True)


def test_bans_expire_in_the_kernel(harness: Harness) -> None:
    if not harness.kernel_timeouts:
        pytest.skip("this firewall has no per-element timeouts; the daemon unbans")
    now = time.time()
    backend = harness.make()
    backend.start(RULES[:1])
    backend.ban([BanEntry("sshd", "192.0.2.8", now + 1), BanEntry("sshd", "192.0.2.9", now + 600)])
    backend.commit(now)
    assert net("192.0.2.8/32") in backend.banned("sshd")
    # the daemon does nothing: the kernel drops the element by itself
    assert wait_for(lambda: net("192.0.2.8/32") not in backend.banned("sshd"), timeout=5)
    assert backend.banned("sshd") == {net("192.0.2.9/32")}
    backend.stop(remove=True)


def test_reconcile_touches_only_the_jails_it_is_given(harness: Harness) -> None:
    now = time.time()
    backend = harness.make()
    backend.start(RULES)
    backend.ban([BanEntry("sshd", "192.0.2.7", now + 600), BanEntry("sshd", "192.0.2.8", now + 600),
                 BanEntry("nginx-http-auth", "198.51.100.7", now + 600)])
    backend.commit(now)
    backend.stop()
    restarted = harness.make()
    restarted.start(RULES)
    # only sshd is (re)started; nginx's bans are not in ``active`` and must stay
    done = restarted.reconcile([BanEntry("sshd", "192.0.2.7", now + 600)], now, jails=["sshd"])
    assert set(done.removed) == {("sshd", net("192.0.2.8/32"))}
    assert restarted.banned("sshd") == {net("192.0.2.7/32")}
    assert restarted.banned("nginx-http-auth") == {net("198.51.100.7/32")}
    with pytest.raises(BackendError, match="nginx-http-auth"):
        restarted.reconcile([BanEntry("nginx-http-auth", "192.0.2.1", now + 60)], now,
                            jails=["sshd"])
    restarted.stop(remove=True)


def test_present_reports_every_element_with_the_kernel_time_left(harness: Harness) -> None:
    now = time.time()
    backend = harness.make()
    backend.start(RULES[:1])
    backend.ban([BanEntry("sshd", "192.0.2.7", now + 600), BanEntry("sshd", "2001:db8::7", None),
                 BanEntry("sshd", "198.51.100.0/24", now + 300)])
    backend.commit(now)
    held = backend.present("sshd", now)
    assert set(held) == backend.banned("sshd")
    if harness.kernel_timeouts:
        left = held[net("192.0.2.7/32")].remaining
        assert left is not None and 590 < left <= 600
        assert held[net("2001:db8::7/128")].remaining is None  # permanent: no timeout
    backend.stop(remove=True)


@pytest.mark.parametrize("kind", ["nftables", "ipset"])
def test_a_ban_longer_than_the_kernel_allows_goes_in_without_a_timeout(
        kind: str, tmp_path: Path) -> None:
    with ExitStack() as stack:
        made = HARNESSES[kind](stack, tmp_path)
        backend = made.make()
        assert isinstance(backend, NftablesBackend | IpsetBackend)
        limit = backend.max_timeout
        assert limit is not None
        now = time.time()
        backend.start(RULES[:1])
        backend.ban([BanEntry("sshd", "192.0.2.7", now + 10 * 365.25 * 86400),
                     BanEntry("sshd", "192.0.2.8", now + 99999999999999),
                     BanEntry("sshd", "192.0.2.9", now + limit)])
        backend.commit(now)
        held = backend.present("sshd", now)
        assert held[net("192.0.2.7/32")].remaining is None
        assert held[net("192.0.2.8/32")].remaining is None
        assert (held[net("192.0.2.9/32")].remaining or 0) > limit - 5  # the longest timeout
        backend.stop(remove=True)
