"""iptables + ipset for real in a namespace: packets stop, rules are never duplicated."""

from __future__ import annotations

import shutil
import subprocess
import time

import pytest

from warden.backends.base import BanEntry, JailRule, UnbanEntry
from warden.backends.ipset import IpsetBackend
from warden.backends.runner import RecordingRunner, SubprocessRunner

from .netns import netns, netns_pair
from .traffic import connects, eventually_connects, listener

pytestmark = pytest.mark.skipif(
    shutil.which("ipset") is None or shutil.which("iptables") is None,
    reason="ipset/iptables not installed",
)


def _rules(ns: str, tool: str) -> list[str]:
    out = subprocess.run(("ip", "netns", "exec", ns, tool, "-w", "-S", "INPUT"),
                         capture_output=True, text=True, check=True).stdout
    return [line for line in out.splitlines() if line.startswith("-A")]


def test_banned_packets_stop_and_restart_adds_no_rule() -> None:
    with netns_pair() as (victim, attacker), listener(victim, 22, 8080):
        runner = SubprocessRunner(("ip", "netns", "exec", victim))
        rule = JailRule("sshd", ("22",), ("tcp",), blocktype="DROP")
        backend = IpsetBackend(runner=runner)
        backend.start([rule])
        assert eventually_connects(attacker, "192.0.2.2", "192.0.2.1", 22)
        assert eventually_connects(attacker, "2001:db8::2", "2001:db8::1", 22)
        now = time.time()
        backend.ban([BanEntry("sshd", "192.0.2.2", now + 600),
                     BanEntry("sshd", "2001:db8::2", now + 600)])
        backend.commit(now)
        assert not connects(attacker, "192.0.2.2", "192.0.2.1", 22)
        assert not connects(attacker, "2001:db8::2", "2001:db8::1", 22)
        assert connects(attacker, "192.0.2.2", "192.0.2.1", 8080)
        assert connects(attacker, "192.0.2.3", "192.0.2.1", 22)

        before = (_rules(victim, "iptables"), _rules(victim, "ip6tables"))
        assert len(before[0]) == len(before[1]) == 1
        IpsetBackend(runner=runner).start([rule])  # a restart
        assert (_rules(victim, "iptables"), _rules(victim, "ip6tables")) == before
        assert not connects(attacker, "192.0.2.2", "192.0.2.1", 22)

        backend.unban([UnbanEntry("sshd", "192.0.2.2")])
        backend.commit(now)
        assert connects(attacker, "192.0.2.2", "192.0.2.1", 22)
        backend.stop(remove=True)
        assert _rules(victim, "iptables") == _rules(victim, "ip6tables") == []
        assert eventually_connects(attacker, "2001:db8::2", "2001:db8::1", 22)


def test_one_restore_per_commit_and_long_jail_names() -> None:
    recorder = RecordingRunner()
    backend = IpsetBackend(runner=recorder)
    jail = "a-very-long-jail-name-for-nginx-botsearch"
    backend.start([JailRule(jail)])
    names = {backend.setname(jail, 4), backend.setname(jail, 6)}
    assert len(names) == 2 and all(len(n) <= 31 for n in names)
    recorder.commands.clear()
    now = 100.0
    backend.ban(BanEntry(jail, f"192.0.2.{i}", now + 30) for i in range(1, 200))
    backend.ban([BanEntry(jail, "2001:db8::5", None),
                 BanEntry(jail, "2001:db8::6", now + 365 * 86400)])  # beyond ipset's limit
    backend.unban([UnbanEntry(jail, "192.0.2.1")])
    backend.commit(now)
    assert [c.argv for c in recorder.commands] == [("ipset", "-exist", "restore")]
    stdin = recorder.commands[0].stdin or ""
    assert f"add {backend.setname(jail, 6)} 2001:db8::5/128 timeout 0" in stdin
    assert f"add {backend.setname(jail, 6)} 2001:db8::6/128 timeout 0" in stdin
    assert f"del {backend.setname(jail, 4)} 192.0.2.1/32" in stdin
    assert stdin.count("timeout 30") == 198


def test_sets_survive_in_the_kernel_when_the_rules_are_added_again() -> None:
    with netns() as ns:
        runner = SubprocessRunner(("ip", "netns", "exec", ns))
        backend = IpsetBackend(runner=runner)
        backend.start([JailRule("sshd", ("ssh", "2222:2230"), ("tcp", "udp"))])
        backend.ban([BanEntry("sshd", "198.51.100.0/24")])
        backend.commit(time.time())
        assert len(_rules(ns, "iptables")) == 2  # one per protocol
        again = IpsetBackend(runner=runner)
        again.start([JailRule("sshd", ("ssh", "2222:2230"), ("tcp", "udp"))])
        assert {str(n) for n in again.banned("sshd")} == {"198.51.100.0/24"}
        again.stop(remove=True)
