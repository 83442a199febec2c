"""The store's fleet part: stream cursors and the outbox, in SQLite (across a reopen) and in
its in-memory twin."""

from __future__ import annotations

import pathlib
from collections.abc import Callable

import pytest

from warden.store import BanStore, MemoryBanStore, SqliteBanStore

Maker = Callable[[pathlib.Path], BanStore]
MAKERS: list[Maker] = [lambda p: SqliteBanStore(p / "w.db"), lambda p: MemoryBanStore()]


@pytest.mark.parametrize("make", MAKERS, ids=["sqlite", "memory"])
def test_the_outbox_keeps_order_and_drops_what_was_published(tmp_path: pathlib.Path,
                                                            make: Maker) -> None:
    store = make(tmp_path)
    assert store.outbox(10) == [] and store.outbox_size() == 0
    store.outbox_add(["a", "b"])
    store.outbox_add(["c"])
    first = store.outbox(2)
    assert [entry for _seq, entry in first] == ["a", "b"]
    store.outbox_remove(first[-1][0])
    assert [entry for _seq, entry in store.outbox(10)] == ["c"]
    assert store.outbox_size() == 1
    store.save_fleet_cursors({"warden:{sshd}:bans": "5-0"})
    store.save_fleet_cursors({"warden:{sshd}:bans": "7-1", "warden:{web}:bans": "1-0"})
    assert store.fleet_cursors() == {"warden:{sshd}:bans": "7-1", "warden:{web}:bans": "1-0"}


def test_sqlite_keeps_both_across_a_reopen(tmp_path: pathlib.Path) -> None:
    store = SqliteBanStore(tmp_path / "w.db")
    store.outbox_add(["x", "y"])
    store.save_fleet_cursors({"s": "9-0"})
    store.close()
    again = SqliteBanStore(tmp_path / "w.db")
    assert [entry for _seq, entry in again.outbox(10)] == ["x", "y"]
    assert again.fleet_cursors() == {"s": "9-0"}
    again.outbox_add(["z"])  # sequence numbers go on after a reopen: order is kept
    seqs = [seq for seq, _entry in again.outbox(10)]
    assert seqs == sorted(seqs) and len(seqs) == 3
    again.close()


@pytest.mark.parametrize("make", MAKERS, ids=["sqlite", "memory"])
def test_origins_of_remote_bans_are_remembered_and_forgotten(tmp_path: pathlib.Path,
                                                             make: Maker) -> None:
    store = make(tmp_path)
    assert store.fleet_origins() == {}
    store.save_fleet_origins({("sshd", "192.0.2.7"): "a", ("web", "2001:db8::/64"): "b"})
    store.save_fleet_origins({("sshd", "192.0.2.7"): None, ("web", "2001:db8::/64"): "c",
                              ("sshd", "192.0.2.9"): None})  # forgetting the unknown is fine
    assert store.fleet_origins() == {("web", "2001:db8::/64"): "c"}


def test_sqlite_keeps_the_origins_across_a_reopen(tmp_path: pathlib.Path) -> None:
    store = SqliteBanStore(tmp_path / "w.db")
    store.save_fleet_origins({("sshd", "192.0.2.7"): "a"})
    store.close()
    assert SqliteBanStore(tmp_path / "w.db").fleet_origins() == {("sshd", "192.0.2.7"): "a"}
