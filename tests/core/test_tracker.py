"""The exact findtime window and maxretry rule, and the memory bounds of the tracker."""

from __future__ import annotations

import tracemalloc

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from warden.core.tracker import Ticket, Tracker

A = "192.0.2.1"


def run(tracker: Tracker, times: list[float]) -> list[int | Ticket | None]:
    """Add failures of A at ``times``; per step the ticket or the count kept."""
    out: list[int | Ticket | None] = []
    for t in times:
        ticket = tracker.add(A, t, (f"line {t:g}",))
        out.append(ticket.failures if ticket else tracker.count(A))
    return out


@pytest.mark.parametrize(("maxretry", "findtime", "times", "expected"), [
    # three within 600 s: banned at the third, then counting starts again
    (3, 600, [0, 10, 20, 30], [1, 2, 3, 1]),
    # the window is (newest - findtime, newest]: a failure exactly findtime ago is out
    (3, 600, [0, 300, 600], [1, 2, 2]),
    (3, 600, [0, 300, 599], [1, 2, 3]),
    # a sliding window, not fixed buckets: 0 and 500 are out when 1101 comes
    (3, 600, [0, 500, 1000, 1101, 1150], [1, 2, 2, 2, 3]),
    # maxretry 1: every failure is a ticket
    (1, 600, [0, 1], [1, 1]),
    # out of order: a failure inside the window still counts
    (3, 600, [100, 50, 90], [1, 2, 3]),
    # one older than the newest's window is not counted
    (3, 600, [1000, 300, 1001], [1, 1, 2]),
    # an older failure that is still in the window does not evict a newer one
    (4, 600, [1000, 1500, 1100, 1550], [1, 2, 3, 4]),
    # zero findtime: only simultaneous failures count together
    (2, 0, [5, 5], [1, 2]),
    (3, 0, [5, 4, 5, 6, 6], [1, 1, 2, 1, 2]),
])
def test_window(maxretry: int, findtime: float, times: list[float],
                expected: list[int]) -> None:
    assert run(Tracker(maxretry, findtime), times) == expected


def test_ticket_carries_newest_time_and_latest_matches() -> None:
    tracker = Tracker(maxretry=4, findtime=600, maxmatches=3)
    tracker.add(A, 10.0, ("a",))
    tracker.add(A, 30.0, ("c1", "c2"))
    tracker.add(A, 20.0, ())
    ticket = tracker.add(A, 25.0, ("b",))
    assert ticket == Ticket(30.0, 4, ("b", "c1", "c2"))
    assert A not in tracker


def test_no_matches_kept_with_maxmatches_zero() -> None:
    tracker = Tracker(maxretry=2, findtime=600, maxmatches=0)
    tracker.add(A, 1.0, ("a",))
    assert tracker.add(A, 2.0, ("b",)) == Ticket(2.0, 2, ())


def test_weighted_failures() -> None:
    tracker = Tracker(maxretry=5, findtime=600)
    assert tracker.add(A, 1.0, ("x",), weight=3) is None
    assert tracker.count(A) == 3
    ticket = tracker.add(A, 2.0, ("y",), weight=2)
    assert ticket == Ticket(2.0, 5, ("x", "y"))
    # a weight reaching maxretry bans at once
    assert tracker.add("b", 1.0, ("z",), weight=5) == Ticket(1.0, 5, ("z",))
    assert "b" not in tracker


def test_expire_drops_addresses_out_of_the_window() -> None:
    tracker = Tracker(maxretry=5, findtime=100)
    tracker.add("a", 0.0)
    tracker.add("b", 50.0)
    tracker.add("c", 120.0)
    assert tracker.expire(99.0) == 0
    assert tracker.expire(100.0) == 1
    assert "a" not in tracker
    assert tracker.expire(1000.0) == 2
    assert len(tracker) == 0


def test_expire_stops_at_the_first_live_address() -> None:
    tracker = Tracker(maxretry=5, findtime=100)
    tracker.add("a", 200.0)
    tracker.add("b", 10.0)  # updated later but older: waits behind a
    assert tracker.expire(150.0) == 0
    assert tracker.expire(300.0) == 2


def test_cap_evicts_least_recently_updated_in_batches() -> None:
    tracker = Tracker(maxretry=5, findtime=1e9, max_tracked=128)
    for i in range(128):
        tracker.add(f"k{i}", float(i))
    tracker.add("k0", 500.0)  # k0 is now the most recent
    tracker.add("new", 600.0)
    assert len(tracker) == 127  # one batch of 128 // 64 = 2 evicted
    assert tracker.evicted == 2
    assert "k0" in tracker
    assert "k1" not in tracker and "k2" not in tracker
    assert "k3" in tracker
    for i in range(10_000):
        tracker.add(f"flood{i}", 1000.0 + i)
    assert len(tracker) <= 128
    assert tracker.evicted == 2 + 10_000 + 127 - len(tracker)


def test_drop_and_clear() -> None:
    tracker = Tracker(maxretry=5, findtime=100)
    tracker.add("a", 1.0)
    assert tracker.drop("a") is True
    assert tracker.drop("a") is False
    tracker.add("b", 1.0)
    tracker.clear()
    assert len(tracker) == 0


def _reference(events: list[tuple[str, float, int]], maxretry: int,
               findtime: float) -> list[tuple[int, float] | int]:
    """The rule written plainly: every failure of an address kept in a list; on each new
    one, those not within findtime of the newest are dropped; maxretry of them ban."""
    kept: dict[str, list[float]] = {}
    out: list[tuple[int, float] | int] = []
    for key, t, weight in events:
        times = kept.get(key, [])
        newest = max([*times, t])

        def inside(x: float, newest: float = newest) -> bool:
            return x > newest - findtime or x == newest

        if not inside(t):
            out.append(len(times))
            continue
        times = sorted([x for x in times if inside(x)] + [t] * weight)
        if len(times) >= maxretry:
            out.append((len(times), newest))
            kept.pop(key, None)
        else:
            kept[key] = times
            out.append(len(times))
    return out


@settings(max_examples=300, deadline=None)
@given(
    maxretry=st.integers(1, 6),
    findtime=st.sampled_from([0.0, 1.0, 5.0, 10.0, 600.0]),
    events=st.lists(st.tuples(st.sampled_from("abc"), st.integers(0, 40).map(float),
                              st.integers(1, 3)), max_size=60),
)
@pytest.mark.parametrize("maxmatches", [0, 2])  # times only / times with lines
# in time order: the usual case, which the tracker takes a shorter way for
@pytest.mark.parametrize("ordered", [False, True])
def test_tracker_agrees_with_the_plain_rule(maxretry: int, findtime: float,
                                            events: list[tuple[str, float, int]],
                                            maxmatches: int, ordered: bool) -> None:
    if ordered:
        events = sorted(events, key=lambda e: e[1])
    tracker = Tracker(maxretry, findtime, maxmatches=maxmatches)
    got: list[tuple[int, float] | int] = []
    for key, t, weight in events:
        ticket = tracker.add(key, t, (), weight)
        got.append((ticket.failures, ticket.time) if ticket else tracker.count(key))
    assert got == _reference(events, maxretry, findtime)


def _bytes_per_key(maxmatches: int, failures: int, keys: int = 20_000) -> float:
    names = [f"2001:db8::{i:x}" for i in range(keys)]  # made before measuring
    tracker = Tracker(maxretry=5, findtime=3600, maxmatches=maxmatches, max_tracked=keys)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for _ in range(failures):
            for name in names:
                # every failure at the same second, each time a float object of its own
                tracker.add(name, float(int("1700000000")), ("a log line",))
        return (tracemalloc.get_traced_memory()[0] - before) / keys
    finally:
        tracemalloc.stop()


def test_memory_per_address_without_matches() -> None:
    # one failure costs only the dictionary slot (the time is shared); two add a pair
    assert _bytes_per_key(0, 1) < 56
    assert _bytes_per_key(0, 2) < 56 + 56
    # keeping lines costs more (what maxmatches = 0 saves)
    assert _bytes_per_key(5, 2) > _bytes_per_key(0, 2) + 40
