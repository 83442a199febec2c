"""nftables for real: packets from a banned address stop, on the jail's ports only."""

from __future__ import annotations

import json
import shutil
import subprocess
import time

import pytest

from warden.backends.base import BanEntry, JailRule, UnbanEntry
from warden.backends.nftables import NftablesBackend
from warden.backends.runner import Completed, RecordingRunner, SubprocessRunner
from warden.errors import BackendError

from .netns import netns, netns_pair
from .traffic import connects, eventually_connects, listener

pytestmark = pytest.mark.skipif(shutil.which("nft") is None, reason="nft not installed")


def test_banned_packets_stop_v4_and_v6() -> None:
    with netns_pair() as (victim, attacker), listener(victim, 22, 8080):
        backend = NftablesBackend(runner=SubprocessRunner(("ip", "netns", "exec", victim)))
        backend.start([JailRule("sshd", ("22",), ("tcp",))])
        assert eventually_connects(attacker, "192.0.2.2", "192.0.2.1", 22)
        assert eventually_connects(attacker, "2001:db8::2", "2001:db8::1", 22)
        now = time.time()
        backend.ban([BanEntry("sshd", "192.0.2.2", now + 600),
                     BanEntry("sshd", "2001:db8::2", now + 600)])
        backend.commit(now)
        assert not connects(attacker, "192.0.2.2", "192.0.2.1", 22)
        assert not connects(attacker, "2001:db8::2", "2001:db8::1", 22)
        # other ports of the jail's protocol and other addresses still get through
        assert connects(attacker, "192.0.2.2", "192.0.2.1", 8080)
        assert connects(attacker, "192.0.2.3", "192.0.2.1", 22)
        assert eventually_connects(attacker, "2001:db8::3", "2001:db8::1", 22)
        backend.unban([UnbanEntry("sshd", "192.0.2.2")])
        backend.commit(now)
        assert connects(attacker, "192.0.2.2", "192.0.2.1", 22)
        assert not connects(attacker, "2001:db8::2", "2001:db8::1", 22)


def test_allports_and_chain_settings_follow_a_restart() -> None:
    with netns() as ns:
        runner = SubprocessRunner(("ip", "netns", "exec", ns))
        NftablesBackend(runner=runner).start([JailRule("recidive", (), ("tcp", "udp"))])
        backend = NftablesBackend(runner=runner, hook="forward", priority=10)
        backend.start([JailRule("recidive", (), ())])
        backend.ban([BanEntry("recidive", "192.0.2.44", None)])
        backend.commit(time.time())
        listing = json.loads(subprocess.run(
            ("ip", "netns", "exec", ns, "nft", "-j", "list", "chain", "inet", "warden",
             "recidive"), capture_output=True, check=True, text=True).stdout)
        chain = next(x["chain"] for x in listing["nftables"] if "chain" in x)
        assert (chain["hook"], chain["prio"]) == ("forward", 10)
        rules = [x["rule"] for x in listing["nftables"] if "rule" in x]
        assert len(rules) == 4  # per family: addresses and networks; no port or protocol match
        assert all("l4proto" not in json.dumps(r) for r in rules)


def test_ten_thousand_bans_in_one_transaction() -> None:
    recorder = RecordingRunner()
    backend = NftablesBackend(runner=recorder)
    backend.start([JailRule("sshd", ("ssh",))])
    now = 1000.0
    backend.ban(BanEntry("sshd", f"10.{i >> 16}.{(i >> 8) & 255}.{i & 255}", now + 60)
                for i in range(10_000))
    backend.commit(now)
    assert len(recorder.commands) == 2  # start, then one nft -f for the whole batch
    batch = recorder.commands[1]
    assert batch.argv == ("nft", "-f", "-")
    assert batch.stdin is not None and batch.stdin.count("10.0.39.15 timeout 60s") == 2
    assert "add element inet warden sshd4 {" in batch.stdin  # addresses: the hash set


def test_a_refused_batch_is_retried_element_by_element() -> None:
    with netns() as ns:
        backend = NftablesBackend(runner=SubprocessRunner(("ip", "netns", "exec", ns)))
        backend.start([JailRule("sshd")])
        now = time.time()
        backend.ban([BanEntry("sshd", "198.51.100.0/24", now + 60)])
        backend.commit(now)
        # a network inside a banned network makes the kernel refuse the whole batch
        # ("interval overlaps"); it is already blocked, the other bans must still land
        backend.ban([BanEntry("sshd", "198.51.100.0/25", now + 60),
                     BanEntry("sshd", "192.0.2.5", now + 60)])
        backend.commit(now)
        assert {str(n) for n in backend.banned("sshd")} == {"198.51.100.0/24", "192.0.2.5/32"}


def test_errors_are_one_line_backend_errors() -> None:
    with pytest.raises(BackendError, match="invalid table name"):
        NftablesBackend(table="bad name")
    with pytest.raises(BackendError, match="hook"):
        NftablesBackend(hook="sideways")
    failing = RecordingRunner(lambda c: Completed(1, "", "Error: Operation not permitted\nmore"))
    backend = NftablesBackend(runner=failing)
    with pytest.raises(BackendError, match=r"^nftables: nft -f failed: Error: Operation not"):
        backend.start([JailRule("sshd")])
    with pytest.raises(BackendError, match="invalid port"):
        NftablesBackend(runner=RecordingRunner()).start([JailRule("sshd", ("22; drop",))])
    with pytest.raises(BackendError, match="not an IP address"):
        _ = BanEntry("sshd", "192.0.2.300").network


def test_ten_thousand_bans_and_unbans_for_real() -> None:
    # the regression guard for nft's slow interval-set deletes (13 s for 10,000 unbans)
    with netns() as ns:
        backend = NftablesBackend(runner=SubprocessRunner(("ip", "netns", "exec", ns)))
        backend.start([JailRule("sshd", ("ssh",))])
        now = time.time()
        addresses = [f"10.{i >> 16}.{(i >> 8) & 255}.{i & 255}" for i in range(10_000)]
        started = time.perf_counter()
        backend.ban(BanEntry("sshd", a, now + 600) for a in addresses)
        backend.commit(now)
        banned = time.perf_counter() - started
        assert len(backend.banned("sshd")) == 10_000
        started = time.perf_counter()
        backend.unban(UnbanEntry("sshd", a) for a in addresses)
        backend.commit(now)
        unbanned = time.perf_counter() - started
        assert backend.banned("sshd") == set()
        assert banned < 3 and unbanned < 3, (banned, unbanned)  # ~0.25 s each here
