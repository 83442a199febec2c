"""BanList finds a ban's target by its key (the failure id) as long as exactly that ban is
active: the jail uses this to skip parsing the addresses of banned hosts."""

from __future__ import annotations

from ipaddress import ip_network

from warden.core.banlist import ActiveBan, BanList

A = ip_network("2001:db8::7/128")
B = ip_network("192.0.2.0/24")


def test_target_of_follows_put_pop_expire_and_clear() -> None:
    bans = BanList()
    bans.put(A, ActiveBan("2001:db8::7", 0.0, 10.0, count=1))
    bans.put(B, ActiveBan("192.0.2.0/24", 0.0, None, count=1))
    bans.put("bob", ActiveBan("bob", 0.0, 5.0, count=1))
    assert (bans.target_of("2001:db8::7"), bans.target_of("192.0.2.0/24"),
            bans.target_of("bob")) == (A, B, "bob")
    assert bans.target_of("2001:db8::8") is None
    # a ban replaced under another key: the old key no longer names it
    bans.put(A, ActiveBan("2001:DB8::7", 0.0, 20.0, count=2))
    assert bans.target_of("2001:db8::7") is None and bans.target_of("2001:DB8::7") == A
    assert bans.expire(6.0) == ["bob"]
    assert bans.target_of("bob") is None
    assert bans.pop(A) is not None
    assert bans.target_of("2001:DB8::7") is None
    bans.clear()
    assert bans.target_of("192.0.2.0/24") is None
    assert bans.total == 3
