"""The recorded command contract of pf, ipfw and firewalld (they cannot run on Linux).

Each test drives a backend through start, a commit with bans and an unban, and a restart,
and compares the exact argv and stdin with the contract documented in the backend's module
(and in the README). The fakes in ``fakes.py`` answer like the tools, so the backends' own
decisions (pf's ``-R`` on restart, ipfw's rule check, firewalld's tolerated warnings) are
exercised too.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from warden.backends.base import BanEntry, FirewallBackend, JailRule, UnbanEntry
from warden.backends.firewalld import FirewalldBackend
from warden.backends.ipfw import IpfwBackend
from warden.backends.pf import PfBackend
from warden.backends.runner import Command, Completed, RecordingRunner
from warden.errors import BackendError

from .fakes import FakeFirewallCmd, FakeIpfw, FakePfctl

RULE = JailRule("sshd", ("ssh", "2222"), ("tcp",))
Args = tuple[tuple[str, ...], str | None]


def _script(make: Callable[[RecordingRunner], FirewallBackend],
            fake: Callable[[Command], Completed]) -> list[Args]:
    runner = RecordingRunner(fake)
    backend = make(runner)
    backend.start([RULE])
    backend.ban([BanEntry("sshd", "192.0.2.7", 700.0), BanEntry("sshd", "2001:db8::7", None),
                 BanEntry("sshd", "198.51.100.0/24", 700.0)])
    backend.unban([UnbanEntry("sshd", "203.0.113.1")])
    backend.commit(100.0)
    make(runner).start([RULE])  # a restart
    return [(c.argv, c.stdin) for c in runner.commands]


def test_pf_contract() -> None:
    fake = FakePfctl()
    a = ("pfctl", "-a", "warden/sshd")
    ruleset = ("table <warden-sshd> persist\n"
               "block quick log proto tcp from <warden-sshd> to any port { ssh, 2222 }\n")
    assert _script(lambda r: PfBackend(runner=r, log=True), fake) == [
        ((*a, "-s", "Tables"), None),
        ((*a, "-f", "-"), ruleset),
        ((*a, "-t", "warden-sshd", "-T", "delete", "203.0.113.1"), None),
        ((*a, "-t", "warden-sshd", "-T", "add", "192.0.2.7", "2001:db8::7", "198.51.100.0/24"),
         None),
        (("pfctl", "-k", "192.0.2.7"), None),
        (("pfctl", "-k", "2001:db8::7"), None),
        (("pfctl", "-k", "198.51.100.0/24"), None),
        ((*a, "-s", "Tables"), None),
        ((*a, "-R", "-f", "-"), ruleset),  # the table exists: rules only, bans kept
    ]
    assert fake.tables[("warden/sshd", "warden-sshd")] == {
        "192.0.2.7", "2001:db8::7", "198.51.100.0/24"}


def test_pf_allports_and_remove() -> None:
    runner = RecordingRunner(FakePfctl())
    backend = PfBackend(runner=runner)
    assert backend.ruleset(JailRule("recidive", (), ())) == (
        "table <warden-recidive> persist\nblock quick from <warden-recidive> to any\n")
    backend.start([JailRule("recidive", (), ())])
    runner.commands.clear()
    backend.stop(remove=True)
    assert [c.argv for c in runner.commands] == [
        ("pfctl", "-a", "warden/recidive", "-F", "rules"),
        ("pfctl", "-a", "warden/recidive", "-t", "warden-recidive", "-T", "kill"),
    ]
    with pytest.raises(BackendError, match="cannot name a pf table"):
        backend.table("bad jail")


def test_ipfw_contract() -> None:
    fake = FakeIpfw()
    assert _script(lambda r: IpfwBackend(runner=r), fake) == [
        (("ipfw", "table", "warden-sshd", "info"), None),
        (("ipfw", "table", "warden-sshd", "create", "type", "addr"), None),
        (("ipfw", "list", "55041"), None),
        (("ipfw", "-q", "/dev/stdin"),
         "add 55041 deny tcp from table(warden-sshd) to any dst-port ssh,2222\n"),
        (("ipfw", "-q", "/dev/stdin"),
         "table warden-sshd delete 203.0.113.1/32\ntable warden-sshd add 192.0.2.7/32\n"
         "table warden-sshd add 2001:db8::7/128\ntable warden-sshd add 198.51.100.0/24\n"),
        (("ipfw", "table", "warden-sshd", "info"), None),
        (("ipfw", "list", "55041"), None),  # the rule is already there: nothing to do
    ]
    # a changed port list replaces the rule, the table stays
    runner = RecordingRunner(fake)
    IpfwBackend(runner=runner).start([JailRule("sshd", ("22",), ("tcp", "udp"))])
    assert runner.commands[-1].stdin == (
        "delete 55041\nadd 55041 deny tcp from table(warden-sshd) to any dst-port 22\n"
        "add 55041 deny udp from table(warden-sshd) to any dst-port 22\n")
    assert len(fake.tables["warden-sshd"]) == 3


def test_firewalld_contract() -> None:
    fake = FakeFirewallCmd()
    fw = "firewall-cmd"
    rule4 = ("ipv4", "filter", "INPUT_direct", "0", "-p", "tcp", "-m", "multiport", "--dports",
             "ssh,2222", "-m", "set", "--match-set", "warden-sshd", "src", "-j", "REJECT")
    rule6 = (*rule4[:13], "warden6-sshd", "src", "-j", "REJECT")
    rule6 = ("ipv6", *rule6[1:])
    start = [
        ((fw, "--direct", "--new-ipset=warden-sshd", "--type=hash:net", "--option=timeout=0"),
         None),
        ((fw, "--direct", "--add-rule", *rule4), None),
        ((fw, "--direct", "--new-ipset=warden6-sshd", "--type=hash:net", "--option=timeout=0",
          "--option=family=inet6"), None),
        ((fw, "--direct", "--add-rule", *rule6), None),
    ]
    assert _script(lambda r: FirewalldBackend(runner=r), fake) == [
        *start,
        ((fw, "--ipset=warden-sshd", "--remove-entries-from-file=/dev/stdin"), "203.0.113.1/32\n"),
        ((fw, "--ipset=warden-sshd", "--add-entries-from-file=/dev/stdin"),
         "192.0.2.7/32\n198.51.100.0/24\n"),
        ((fw, "--ipset=warden6-sshd", "--add-entries-from-file=/dev/stdin"), "2001:db8::7/128\n"),
        *start,  # NAME_CONFLICT and ALREADY_ENABLED on restart are expected, not errors
    ]
    assert fake.direct == {rule4, rule6}


def test_firewalld_reports_real_errors() -> None:
    backend = FirewalldBackend(runner=RecordingRunner(
        lambda c: Completed(252, "", "FirewallD is not running")))
    with pytest.raises(BackendError, match=r"^firewalld: .* failed: FirewallD is not running$"):
        backend.start([RULE])
