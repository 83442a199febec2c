"""ignoreip networks, the ignorecommand cache and its keys."""

from __future__ import annotations

from ipaddress import ip_network

import pytest

from warden.core.addr import parse_target
from warden.core.ignore import IgnoreCache, IgnoreList, render_key

IGNORE = IgnoreList(["127.0.0.1/8", "::1", "192.0.2.0/25", ip_network("2001:db8:1::/48"),
                     "198.51.100.7", "bob"])


@pytest.mark.parametrize(("target", "ignored"), [
    ("127.0.0.1", True),
    ("127.200.3.4", True),
    ("::1", True),
    ("::2", False),
    ("192.0.2.1", True),
    ("192.0.2.127", True),
    ("192.0.2.128", False),
    ("192.0.2.0/26", True),  # a network wholly inside an ignored one
    ("192.0.2.0/24", False),  # only partly inside
    ("198.51.100.7", True),
    ("198.51.100.8", False),
    ("198.51.100.7/31", False),
    ("2001:db8:1:ffff::9", True),
    ("2001:db8:2::9", False),
    ("::ffff:192.0.2.5", True),
    ("bob", True),
    ("alice", False),
    ("203.0.113.9", False),
])
def test_membership(target: str, ignored: bool) -> None:
    assert (target in IGNORE) is ignored
    assert (parse_target(target) in IGNORE) is ignored


def test_empty_and_odd_values() -> None:
    assert not IgnoreList()
    assert IGNORE
    assert 42 not in IGNORE
    assert "192.0.2.1" not in IgnoreList(["bob"])
    everything = IgnoreList(["0.0.0.0/0", "::/0"])
    assert "203.0.113.1" in everything
    assert "2001:db8::1" in everything


@pytest.mark.parametrize(("template", "key"), [
    ("<ip>", "192.0.2.1"),
    ("<fid>", "192.0.2.1"),
    ("<ip>-<F-USER>", "192.0.2.1-root"),
    ("<ip>-<f-user>", "192.0.2.1-root"),
    ("<ip>:<F-PORT>", "192.0.2.1:"),
    ("<ip>/<matches>", "192.0.2.1/<matches>"),
    ("static", "static"),
])
def test_keys(template: str, key: str) -> None:
    assert render_key(template, "192.0.2.1", {"user": "root", "port": None}) == key


def test_cache_answers_expire_and_are_bounded() -> None:
    cache = IgnoreCache(max_count=2, max_time=10.0)
    assert cache.get("a", 0.0) is None
    cache.put("a", True, 0.0)
    cache.put("b", False, 1.0)
    assert cache.get("a", 5.0) is True
    assert cache.get("b", 5.0) is False
    cache.put("c", True, 2.0)  # full: the oldest answer (a) goes
    assert cache.get("a", 5.0) is None
    assert len(cache) == 2
    assert cache.get("b", 11.0) is None  # expired
    assert len(cache) == 1
    cache.put("c", False, 3.0)  # replaced
    assert cache.get("c", 12.9) is False
    assert cache.get("c", 13.0) is None


def test_cache_of_size_zero_remembers_nothing() -> None:
    cache = IgnoreCache(max_count=0, max_time=10.0)
    cache.put("a", True, 0.0)
    assert cache.get("a", 1.0) is None
