"""``Jail.reconfigure``: a runtime ``set JAIL option`` keeps failures, bans and totals."""

from __future__ import annotations

import dataclasses

import pytest

from tests.core.test_jail import failure, show
from warden.core.addr import parse_network
from warden.core.filterdef import FilterDefinition
from warden.core.jail import Jail
from warden.core.spec import IgnoreCacheSpec, Increment, JailSpec
from warden.errors import RegexError

A, B = "192.0.2.1", "198.51.100.2"


def test_maxretry_findtime_bantime_take_effect_and_failures_stay() -> None:
    jail = Jail(JailSpec("j", maxretry=3, findtime=600, bantime=600))
    assert jail.add_failure(failure(A, 100), 100) == []
    assert jail.add_failure(failure(A, 110), 110) == []
    jail.reconfigure(dataclasses.replace(jail.spec, maxretry=5, bantime=3600))
    assert jail.add_failure(failure(A, 120), 120) == []  # third failure: 5 needed now
    assert jail.tracker.count(A) == 3 and jail.total_failed == 3
    assert jail.add_failure(failure(A, 130), 130) == []
    assert [show(d) for d in jail.add_failure(failure(A, 140), 140)] == \
        ["ban 192.0.2.1 140..3740 #1 x5"]
    # a ban decided before keeps its end; findtime shrinks the window of new failures
    jail.reconfigure(dataclasses.replace(jail.spec, bantime=60, findtime=5, maxretry=2))
    assert jail.bans.get(jail.bans.target_of(A)).until == 3740  # type: ignore[arg-type,union-attr]
    assert jail.add_failure(failure(B, 200), 200) == []
    assert jail.add_failure(failure(B, 210), 210) == []  # 10 s apart: out of a 5 s window
    assert [show(d) for d in jail.add_failure(failure(B, 212), 212)] == \
        ["ban 198.51.100.2 212..272 #1 x2"]


def test_maxmatches_to_zero_starts_the_windows_anew() -> None:
    jail = Jail(JailSpec("j", maxretry=2, maxmatches=5))
    jail.add_failure(failure(A, 100), 100)
    jail.reconfigure(dataclasses.replace(jail.spec, maxmatches=3))
    assert jail.tracker.count(A) == 1 and jail.tracker.maxmatches == 3
    jail.reconfigure(dataclasses.replace(jail.spec, maxmatches=0))
    assert jail.tracker.count(A) == 0
    assert jail.add_failure(failure(A, 101), 101) == []
    assert len(jail.add_failure(failure(A, 102), 102)) == 1


def test_ignore_list_change_forgets_tracked_ids() -> None:
    jail = Jail(JailSpec("j", maxretry=2))
    jail.add_failure(failure(A, 100), 100)
    jail.reconfigure(dataclasses.replace(jail.spec, ignore=(A,)))
    assert A not in jail.tracker
    spec = jail.spec
    net = parse_network("192.0.2.0/24")
    assert net is not None
    jail.reconfigure(dataclasses.replace(spec, ignore=(net,)))
    assert jail.add_failure(failure(A, 101), 101) == []
    assert jail.add_failure(failure(A, 102), 102) == []
    jail.reconfigure(dataclasses.replace(jail.spec, ignore=()))
    assert jail.add_failure(failure(A, 103), 103) == []
    assert len(jail.add_failure(failure(A, 104), 104)) == 1


def test_filters_increment_and_cache_are_rebuilt() -> None:
    flt = FilterDefinition("f", failregex=(r"^fail from <HOST>$",))
    jail = Jail(JailSpec("j", filters=(flt,), maxretry=1))
    assert jail.feed("other from 192.0.2.1", 100) == []
    more = dataclasses.replace(flt, failregex=(*flt.failregex, r"^other from <HOST>$"))
    jail.reconfigure(dataclasses.replace(jail.spec, filters=(more,), ignorecache=IgnoreCacheSpec(),
                                         increment=Increment(enabled=True)))
    assert len(jail.feed("other from 192.0.2.1", 100)) == 1
    assert jail.policy.increments
    bad = dataclasses.replace(flt, failregex=(r"^no host group$",))
    before = jail.filters
    with pytest.raises(RegexError):
        jail.reconfigure(dataclasses.replace(jail.spec, filters=(bad,)))
    assert jail.filters is before
    # the same definitions: the compiled filters are kept
    jail.reconfigure(dataclasses.replace(jail.spec, ignorecache=None))
    assert jail.filters is before


def test_another_jails_spec_is_refused() -> None:
    jail = Jail(JailSpec("j"))
    with pytest.raises(ValueError, match="cannot reconfigure"):
        jail.reconfigure(JailSpec("k"))


def test_an_idle_jail_looks_at_no_line() -> None:
    flt = FilterDefinition("f", failregex=(r"^fail from <HOST>$",))
    jail = Jail(JailSpec("j", filters=(flt,), maxretry=1))
    jail.idle = True
    assert jail.feed("fail from 192.0.2.1", 100) == []
    assert jail.feed_lines(["fail from 192.0.2.1"], 100) == []
    assert jail.total_failed == 0
    jail.idle = False
    assert len(jail.feed_lines(["fail from 192.0.2.1"], 100)) == 1
