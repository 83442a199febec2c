"""route (for real, in a namespace) and hostsdeny (the file TCP wrappers read)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from warden.backends.base import BanEntry, JailRule, UnbanEntry
from warden.backends.hostsdeny import HostsDenyBackend
from warden.backends.route import RouteBackend
from warden.backends.runner import SubprocessRunner
from warden.errors import BackendError

from .netns import netns_pair
from .traffic import connects, eventually_connects, listener


def test_blackhole_routes_stop_replies_per_jail() -> None:
    with netns_pair() as (victim, attacker), listener(victim, 22):
        backend = RouteBackend(runner=SubprocessRunner(("ip", "netns", "exec", victim)))
        backend.start([JailRule("sshd"), JailRule("recidive")])
        assert eventually_connects(attacker, "192.0.2.2", "192.0.2.1", 22)
        assert eventually_connects(attacker, "2001:db8::2", "2001:db8::1", 22)
        now = time.time()
        backend.ban([BanEntry("sshd", "192.0.2.2"), BanEntry("sshd", "2001:db8::2"),
                     BanEntry("recidive", "192.0.2.2")])
        backend.commit(now)
        assert not connects(attacker, "192.0.2.2", "192.0.2.1", 22)
        assert not connects(attacker, "2001:db8::2", "2001:db8::1", 22)
        assert connects(attacker, "192.0.2.3", "192.0.2.1", 22)
        # unbanned by one jail, still banned by the other
        backend.unban([UnbanEntry("sshd", "192.0.2.2")])
        backend.commit(now)
        assert not connects(attacker, "192.0.2.2", "192.0.2.1", 22)
        backend.flush("recidive")
        assert connects(attacker, "192.0.2.2", "192.0.2.1", 22)
        assert [str(n) for n in backend.banned("sshd")] == ["2001:db8::2/128"]


def test_hosts_deny_file_format(tmp_path: Path) -> None:
    path = tmp_path / "hosts.deny"
    path.write_text("# mine\nALL: 203.0.113.200\n")
    path.chmod(0o640)
    backend = HostsDenyBackend(path=str(path), daemons="sshd")
    backend.start([JailRule("sshd")])
    backend.ban([BanEntry("sshd", "192.0.2.7"), BanEntry("sshd", "2001:db8::7"),
                 BanEntry("sshd", "198.51.100.0/24"), BanEntry("sshd", "2001:db8:1::/48")])
    backend.commit(0.0)
    assert path.read_text() == (
        "# mine\nALL: 203.0.113.200\n# warden begin sshd\nsshd: 192.0.2.7\nsshd: [2001:db8::7]\n"
        "sshd: 198.51.100.0/255.255.255.0\nsshd: [2001:db8:1::]/48\n# warden end sshd\n"
    )
    assert path.stat().st_mode & 0o777 == 0o640
    assert {str(n) for n in backend.banned("sshd")} == {
        "192.0.2.7/32", "2001:db8::7/128", "198.51.100.0/24", "2001:db8:1::/48"}
    backend.flush()
    assert path.read_text() == "# mine\nALL: 203.0.113.200\n"


def test_hosts_deny_errors(tmp_path: Path) -> None:
    with pytest.raises(BackendError, match="invalid daemon list"):
        HostsDenyBackend(path=str(tmp_path / "x"), daemons="ALL: 1.2.3.4\nALL")
    backend = HostsDenyBackend(path=str(tmp_path / "missing-dir" / "hosts.deny"))
    backend.start([JailRule("sshd")])
    backend.ban([BanEntry("sshd", "192.0.2.7")])
    with pytest.raises(BackendError, match=r"^hostsdeny: cannot write .*missing-dir"):
        backend.commit(0.0)
