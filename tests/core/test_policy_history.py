"""The ban history that bantime.increment reads."""

from __future__ import annotations

from dataclasses import dataclass

from warden.core.history import BanHistory, Previous


@dataclass(frozen=True)
class Record:
    jail: str
    addr: str
    start: float
    count: int


def test_lookup_per_jail_and_overall() -> None:
    history = BanHistory()
    assert history.lookup("192.0.2.1", "sshd") is None
    history.record("192.0.2.1", "sshd", 1, 100.0)
    history.record("192.0.2.1", "sshd", 2, 200.0)
    history.record("192.0.2.1", "nginx", 1, 150.0)
    assert history.lookup("192.0.2.1", "sshd") == Previous(2, 200.0)
    assert history.lookup("192.0.2.1", "postfix") is None
    assert history.lookup("192.0.2.1", "postfix", overall=True) == Previous(3, 200.0)
    assert len(history) == 1


def test_record_never_goes_back() -> None:
    history = BanHistory()
    history.record("a", "j", 3, 300.0)
    history.record("a", "j", 1, 100.0)
    assert history.lookup("a", "j") == Previous(3, 300.0)


def test_bounded_least_recently_banned_first() -> None:
    history = BanHistory(max_addresses=2)
    history.record("a", "j", 1, 1.0)
    history.record("b", "j", 1, 2.0)
    history.record("a", "j", 2, 3.0)  # a is now the most recent
    history.record("c", "j", 1, 4.0)
    assert history.lookup("b", "j") is None
    assert history.lookup("a", "j") == Previous(2, 3.0)
    assert len(history) == 2


def test_forget_and_purge() -> None:
    history = BanHistory()
    history.record("a", "j1", 1, 10.0)
    history.record("a", "j2", 1, 20.0)
    history.record("b", "j1", 1, 30.0)
    history.forget("a", "j1")
    assert history.lookup("a", "j1") is None
    assert history.lookup("a", "j2") == Previous(1, 20.0)
    history.forget("zzz")
    history.forget("a", "j2")
    assert history.lookup("a", "j2", overall=True) is None
    history.record("a", "j1", 1, 10.0)
    history.record("a", "j2", 1, 20.0)
    history.forget("a")
    assert len(history) == 1
    history.record("c", "j1", 1, 5.0)
    assert history.purge(before=25.0) == 1
    assert history.lookup("c", "j1") is None
    assert history.lookup("b", "j1") == Previous(1, 30.0)


def test_load_takes_the_latest_of_each_address() -> None:
    history = BanHistory()
    history.load([Record("j", "a", 200.0, 2), Record("j", "a", 100.0, 1),
                  Record("k", "a", 50.0, 4)])
    assert history.lookup("a", "j") == Previous(2, 200.0)
    assert history.lookup("a", "j", overall=True) == Previous(6, 200.0)
