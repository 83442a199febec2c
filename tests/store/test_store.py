"""One contract for every BanStore, plus the SQLite specifics (durability, corruption, WAL)."""

from __future__ import annotations

import logging
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from warden.store import BanStore, MemoryBanStore, SqliteBanStore, StoredBan, TrustEntry
from warden.store.model import MAX_MATCH_BYTES, bounded_line
from warden.store.sqlite import SCHEMA_VERSION


@pytest.fixture(params=["sqlite", "memory"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[BanStore]:
    made: BanStore = (SqliteBanStore(tmp_path / "w.db") if request.param == "sqlite"
                      else MemoryBanStore())
    try:
        yield made
    finally:
        made.close()


def test_active_bans_respect_their_end(store: BanStore) -> None:
    store.add_bans([
        StoredBan("sshd", "192.0.2.1", 1000.0, 60.0),
        StoredBan("sshd", "192.0.2.2", 1000.0, -1.0),
        StoredBan("nginx", "192.0.2.1", 1010.0, 5.0, count=2),
    ])
    assert {b.key for b in store.active_bans(1014.0)} == {
        ("sshd", "192.0.2.1"), ("sshd", "192.0.2.2"), ("nginx", "192.0.2.1")}
    assert {b.key for b in store.active_bans(1015.0)} == {
        ("sshd", "192.0.2.1"), ("sshd", "192.0.2.2")}
    # the permanent ban outlives everything
    assert [b.key for b in store.active_bans(1e12)] == [("sshd", "192.0.2.2")]
    nginx = next(b for b in store.active_bans(1011.0) if b.jail == "nginx")
    assert nginx == StoredBan("nginx", "192.0.2.1", 1010.0, 5.0, 2)
    assert nginx.remaining(1012.5) == 2.5


def test_rebanning_replaces_the_active_ban_and_grows_history(store: BanStore) -> None:
    store.add_bans([StoredBan("sshd", "2001:db8::1", 100.0, 10.0)])
    store.add_bans([StoredBan("sshd", "2001:db8::1", 200.0, 20.0, count=2)])
    assert store.active_bans(150.0) == [StoredBan("sshd", "2001:db8::1", 200.0, 20.0, 2)]
    entry = store.history("2001:db8::1", "sshd", since=0.0)
    assert entry is not None
    assert (entry.count, entry.last_start, entry.last_bantime) == (2, 200.0, 20.0)
    recent = store.history("2001:db8::1", "sshd", since=150.0)
    assert recent is not None and recent.count == 1
    assert store.history("2001:db8::1", "other", since=0.0) is None


def test_history_across_jails_and_purge(store: BanStore) -> None:
    store.add_bans([StoredBan("a", "192.0.2.9", 10.0, 5.0), StoredBan("b", "192.0.2.9", 20.0, 7.0)])
    overall = store.history("192.0.2.9", None, since=0.0)
    assert overall is not None and (overall.count, overall.last_bantime) == (2, 7.0)
    assert store.purge_history(before=15.0) == 1
    overall = store.history("192.0.2.9", None, since=0.0)
    assert overall is not None and overall.count == 1


def test_remove_bans_keeps_history_unless_forgiven(store: BanStore) -> None:
    store.add_bans([StoredBan("sshd", "192.0.2.3", 0.0, 100.0),
                    StoredBan("sshd", "192.0.2.4", 0.0, 100.0)])
    store.remove_bans([("sshd", "192.0.2.3"), ("sshd", "192.0.2.99")])
    assert [b.addr for b in store.active_bans(1.0)] == ["192.0.2.4"]
    assert store.history("192.0.2.3", "sshd", 0.0) is not None
    store.remove_bans([("sshd", "192.0.2.4")], forget=True)
    assert store.active_bans(1.0) == []
    assert store.history("192.0.2.4", "sshd", 0.0) is None


def test_load_history_gives_the_latest_ban_and_count(store: BanStore) -> None:
    store.add_bans([StoredBan("sshd", "192.0.2.5", 10.0, 60.0, 1)])
    store.add_bans([StoredBan("sshd", "192.0.2.5", 100.0, 120.0, 2),
                    StoredBan("web", "192.0.2.5", 50.0, 30.0, 1),
                    StoredBan("sshd", "192.0.2.6", 5.0, 10.0, 1)])
    assert store.load_history(since=0.0) == [
        StoredBan("sshd", "192.0.2.6", 5.0, 10.0, 1),
        StoredBan("web", "192.0.2.5", 50.0, 30.0, 1),
        StoredBan("sshd", "192.0.2.5", 100.0, 120.0, 2),
    ]
    assert store.load_history(since=60.0) == [StoredBan("sshd", "192.0.2.5", 100.0, 120.0, 1)]


def test_positions_round_trip(store: BanStore) -> None:
    store.save_positions({"/var/log/a": {"kind": "file", "offset": 500, "ino": 11},
                          "/b": {"kind": "journal", "cursor": "s=1;i=2"}})
    store.save_positions({"/var/log/a": {"kind": "file", "offset": 7, "ino": 12}})
    assert store.positions() == {"/var/log/a": {"kind": "file", "offset": 7, "ino": 12},
                                 "/b": {"kind": "journal", "cursor": "s=1;i=2"}}


def test_sqlite_state_survives_reopen_and_uses_wal(tmp_path: Path) -> None:
    path = tmp_path / "state" / "w.db"
    first = SqliteBanStore(path)
    first.add_bans([StoredBan("sshd", "198.51.100.7", 50.0, -1.0, 3)])
    first.save_positions({"/l": {"offset": 2}})
    first.close()
    assert (path.stat().st_mode & 0o777) == 0o600
    again = SqliteBanStore(path)
    try:
        assert again.active_bans(1e9) == [StoredBan("sshd", "198.51.100.7", 50.0, -1.0, 3)]
        assert again.positions() == {"/l": {"offset": 2}}
        mode = sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0]
        assert mode == "wal"
    finally:
        again.close()


def test_committed_bans_survive_kill_9(tmp_path: Path) -> None:
    # A child process writes a burst and is killed without closing: every reported ban is there.
    path = tmp_path / "w.db"
    code = (
        "import os, sys\n"
        "from warden.store import SqliteBanStore, StoredBan\n"
        "s = SqliteBanStore(sys.argv[1])\n"
        "s.add_bans([StoredBan('j', f'192.0.2.{i}', 1.0, -1.0) for i in range(1, 201)])\n"
        "print('written', flush=True)\n"
        "os.kill(os.getpid(), 9)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True,
                          check=False, timeout=60)
    assert proc.returncode == -9 and proc.stdout == "written\n"
    store = SqliteBanStore(path)
    try:
        assert len(store.active_bans(2.0)) == 200
    finally:
        store.close()


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_corrupt_database_is_moved_aside(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, damage: str
) -> None:
    path = tmp_path / "w.db"
    if damage == "garbage":
        path.write_bytes(b"this is not a database at all" * 200)
    else:
        good = SqliteBanStore(path)
        good.add_bans([StoredBan("j", f"192.0.2.{i}", 1.0, -1.0) for i in range(1, 250)])
        good.close()
        data = path.read_bytes()
        # keep the header, smash the pages: SQLite sees a malformed database
        path.write_bytes(data[:100] + b"\xff" * (len(data) - 100))
    with caplog.at_level(logging.ERROR, logger="warden.store"):
        store = SqliteBanStore(path)
    try:
        errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
        assert len(errors) == 1 and "moved to" in errors[0].getMessage()
        assert (tmp_path / "w.db.corrupt-1").exists()
        store.add_bans([StoredBan("j", "192.0.2.1", 1.0, 10.0)])
        assert len(store.active_bans(2.0)) == 1
    finally:
        store.close()


def test_a_burst_of_10000_bans_is_one_fast_transaction(tmp_path: Path) -> None:
    store = SqliteBanStore(tmp_path / "w.db")
    try:
        bans = [StoredBan("sshd", f"2001:db8::{i:x}", 1.0, 600.0) for i in range(10_000)]
        started = time.perf_counter()
        store.add_bans(bans)
        elapsed = time.perf_counter() - started
        assert len(store.active_bans(2.0)) == 10_000
        assert elapsed < 1.0, elapsed
    finally:
        store.close()
    assert os.path.exists(tmp_path / "w.db")


def test_a_database_that_cannot_be_opened_is_not_moved(tmp_path: Path) -> None:
    # a directory where the file should be: unreadable, but nothing is corrupt
    path = tmp_path / "w.db"
    path.mkdir()
    with pytest.raises(OSError, match=r"w\.db"):
        SqliteBanStore(path)
    assert path.is_dir() and not (tmp_path / "w.db.corrupt-1").exists()


def test_every_end_of_a_ban_is_recorded_and_outlives_a_forgiving_unban(store: BanStore) -> None:
    store.add_bans([StoredBan("sshd", "192.0.2.3", 0.0, 100.0),
                    StoredBan("sshd", "192.0.2.4", 0.0, 100.0),
                    StoredBan("web", "192.0.2.3", 0.0, 100.0)])
    store.remove_bans([("sshd", "192.0.2.3")], at=50.0)  # expired
    store.remove_bans([("sshd", "192.0.2.4")], forget=True, at=60.0)  # manual unban forgives
    store.remove_bans([("sshd", "192.0.2.3")], at=40.0)  # an older end never wins
    assert store.history("192.0.2.4", "sshd", 0.0) is None
    assert store.ends(["sshd"]) == {("sshd", "192.0.2.3"): 50.0, ("sshd", "192.0.2.4"): 60.0}
    assert store.ends(["web"]) == {}
    # kept until the purge age, like the history
    assert store.purge_history(before=55.0) >= 0
    assert store.ends(["sshd", "web"]) == {("sshd", "192.0.2.4"): 60.0}


def test_a_database_of_the_previous_layout_gains_the_end_records(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    old = sqlite3.connect(path)
    old.executescript(
        "CREATE TABLE bans (jail TEXT NOT NULL, addr TEXT NOT NULL, start REAL NOT NULL, "
        "bantime REAL NOT NULL, count INTEGER NOT NULL, PRIMARY KEY (jail, addr)) WITHOUT ROWID;"
        "INSERT INTO bans VALUES ('sshd', '192.0.2.1', 10.0, 100.0, 1);"
        "PRAGMA user_version=1;")
    old.close()
    store = SqliteBanStore(path)
    try:
        assert [b.addr for b in store.active_bans(20.0)] == ["192.0.2.1"]
        store.remove_bans([("sshd", "192.0.2.1")], at=30.0)
        assert store.ends(["sshd"]) == {("sshd", "192.0.2.1"): 30.0}
    finally:
        store.close()


# -- matched lines (dbmaxmatches) ------------------------------------------------------------
def test_the_matched_lines_of_a_ban_come_back_with_it(store: BanStore) -> None:
    lines = ("Dec  2 09:00:01 h sshd[1]: Failed password for root from 192.0.2.5 port 22",
             "Dec  2 09:00:02 h sshd[1]: Failed password for root from 192.0.2.5 port 23")
    store.add_bans([StoredBan("sshd", "192.0.2.5", 100.0, 60.0, 1, lines),
                    StoredBan("sshd", "192.0.2.6", 100.0, 60.0)])
    found = {b.addr: b.matches for b in store.active_bans(120.0)}
    assert found == {"192.0.2.5": lines, "192.0.2.6": ()}
    assert [(b.jail, b.start, b.matches) for b in store.matches_of("192.0.2.5")] == [
        ("sshd", 100.0, lines)]
    assert store.matches_of("192.0.2.6") == []


def test_a_later_ban_without_lines_does_not_inherit_the_earlier_ones(store: BanStore) -> None:
    store.add_bans([StoredBan("sshd", "192.0.2.5", 100.0, 10.0, 1, ("first",))])
    store.add_bans([StoredBan("sshd", "192.0.2.5", 500.0, 10.0, 2)])  # a manual ban
    assert [b.matches for b in store.active_bans(505.0)] == [()]
    # a prolonged ban (same start) replaces its lines with the new ones
    store.add_bans([StoredBan("sshd", "192.0.2.5", 500.0, 20.0, 2, ("second", "third"))])
    assert [b.matches for b in store.active_bans(505.0)] == [("second", "third")]


def test_stored_lines_are_cut_to_a_byte_bound_on_a_character_boundary(store: BanStore) -> None:
    long_line = "é" * 5000  # two bytes each
    store.add_bans([StoredBan("sshd", "192.0.2.5", 100.0, 60.0, 1, (long_line, "short"))])
    (ban,) = store.active_bans(120.0)
    assert len(ban.matches[0].encode()) <= MAX_MATCH_BYTES
    assert ban.matches[0] == "é" * (MAX_MATCH_BYTES // 2)
    assert ban.matches[1] == "short"
    assert bounded_line("a" * 2000, 10) == "a" * 10
    assert bounded_line("ab€", 4) == "ab"  # never half a character


def test_a_manual_unban_forgets_the_lines_and_the_purge_drops_old_ones(store: BanStore) -> None:
    store.add_bans([StoredBan("sshd", "192.0.2.5", 100.0, 10.0, 1, ("a",)),
                    StoredBan("sshd", "192.0.2.6", 100.0, 10.0, 1, ("b",)),
                    StoredBan("web", "192.0.2.7", 100.0, -1.0, 1, ("c",))])
    store.remove_bans([("sshd", "192.0.2.5")], forget=True, at=105.0)
    assert store.matches_of("192.0.2.5") == []
    store.remove_bans([("sshd", "192.0.2.6")], at=110.0)  # expired: the lines stay
    assert [b.matches for b in store.matches_of("192.0.2.6")] == [("b",)]
    store.purge_history(before=200.0)
    assert store.matches_of("192.0.2.6") == []
    # a permanent ban still active keeps its lines past the purge age
    assert [b.matches for b in store.matches_of("192.0.2.7")] == [("c",)]


def test_matched_lines_survive_reopening(tmp_path: Path) -> None:
    path = tmp_path / "w.db"
    first = SqliteBanStore(path)
    first.add_bans([StoredBan("sshd", "2001:db8::5", 100.0, -1.0, 3, ("x", "y"))])
    first.close()
    again = SqliteBanStore(path)
    try:
        assert again.active_bans(1e9) == [StoredBan("sshd", "2001:db8::5", 100.0, -1.0, 3,
                                                    ("x", "y"))]
    finally:
        again.close()


def test_a_version_1_database_is_migrated_and_keeps_its_bans(tmp_path: Path) -> None:
    path = tmp_path / "v1.db"
    old = sqlite3.connect(path)
    old.executescript(
        "CREATE TABLE bans (jail TEXT NOT NULL, addr TEXT NOT NULL, start REAL NOT NULL, "
        "bantime REAL NOT NULL, count INTEGER NOT NULL, PRIMARY KEY (jail, addr)) WITHOUT ROWID;"
        "CREATE TABLE history (jail TEXT NOT NULL, addr TEXT NOT NULL, start REAL NOT NULL, "
        "bantime REAL NOT NULL, count INTEGER NOT NULL);"
        "INSERT INTO bans VALUES ('sshd', '192.0.2.1', 10.0, 100.0, 1);"
        "INSERT INTO history VALUES ('sshd', '192.0.2.1', 10.0, 100.0, 1);"
        "PRAGMA user_version=1;")
    old.close()
    store = SqliteBanStore(path)
    try:
        assert store.active_bans(20.0) == [StoredBan("sshd", "192.0.2.1", 10.0, 100.0, 1)]
        store.add_bans([StoredBan("sshd", "192.0.2.2", 15.0, 100.0, 1, ("line",))])
        assert [b.matches for b in store.matches_of("192.0.2.2")] == [("line",)]
    finally:
        store.close()
    check = sqlite3.connect(path)
    try:
        assert check.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 4
        assert check.execute("SELECT count(*) FROM history").fetchone()[0] == 2
    finally:
        check.close()


# -- escalation members and trust (issue 14) ---------------------------------------------------
def test_an_escalated_ban_keeps_its_members_while_active(store: BanStore) -> None:
    members = ("192.0.2.1", "192.0.2.2", "192.0.2.3")
    store.add_bans([StoredBan("sshd", "192.0.2.0/24", 100.0, 60.0, 1, (), members),
                    StoredBan("sshd", "192.0.2.1", 100.0, 60.0)])
    found = {b.addr: b.members for b in store.active_bans(120.0)}
    assert found == {"192.0.2.0/24": members, "192.0.2.1": ()}
    # a later ban of the network by hand is no escalation: it does not inherit them
    store.add_bans([StoredBan("sshd", "192.0.2.0/24", 130.0, 60.0, 2)])
    assert [b.members for b in store.active_bans(135.0) if b.addr == "192.0.2.0/24"] == [()]
    store.add_bans([StoredBan("sshd", "192.0.2.0/24", 140.0, 60.0, 3, (), members[:2])])
    store.remove_bans([("sshd", "192.0.2.0/24")], at=150.0)
    store.add_bans([StoredBan("sshd", "192.0.2.0/24", 160.0, 60.0, 4)])
    assert [b.members for b in store.active_bans(165.0) if b.addr == "192.0.2.0/24"] == [()]


def test_trust_keeps_the_latest_login_and_drops_old_ones(store: BanStore) -> None:
    store.save_trust([TrustEntry("sshd", "192.0.2.5", 100.0),
                      TrustEntry("sshd", "2001:db8:1:2::/64", 200.0),
                      TrustEntry("dovecot", "192.0.2.5", 150.0)])
    store.save_trust([TrustEntry("sshd", "192.0.2.5", 90.0)])  # an older line read again
    assert store.trust(0.0) == [TrustEntry("sshd", "192.0.2.5", 100.0),
                                TrustEntry("dovecot", "192.0.2.5", 150.0),
                                TrustEntry("sshd", "2001:db8:1:2::/64", 200.0)]
    assert store.trust(150.0) == [TrustEntry("dovecot", "192.0.2.5", 150.0),
                                  TrustEntry("sshd", "2001:db8:1:2::/64", 200.0)]
    store.save_trust([TrustEntry("sshd", "192.0.2.5", 300.0)], before=160.0)
    assert store.trust(0.0) == [TrustEntry("sshd", "2001:db8:1:2::/64", 200.0),
                                TrustEntry("sshd", "192.0.2.5", 300.0)]


def test_the_history_keeps_whether_a_ban_was_counted(store: BanStore) -> None:
    # a ban by hand or from the fleet joins no escalation group after a restart
    store.add_bans([StoredBan("sshd", "192.0.2.1", 100.0, 60.0),
                    StoredBan("sshd", "192.0.2.2", 101.0, 60.0, counted=False)])
    assert [(b.addr, b.counted) for b in store.load_history(0.0)] == [
        ("192.0.2.1", True), ("192.0.2.2", False)]
    # the latest ban of an address decides
    store.add_bans([StoredBan("sshd", "192.0.2.1", 200.0, 60.0, 2, counted=False),
                    StoredBan("sshd", "192.0.2.2", 201.0, 60.0, 2)])
    assert [(b.addr, b.count, b.counted) for b in store.load_history(0.0)] == [
        ("192.0.2.1", 2, False), ("192.0.2.2", 2, True)]


def test_a_version_3_history_is_taken_as_counted(tmp_path: Path) -> None:
    path = tmp_path / "v3.db"
    first = SqliteBanStore(path)
    first.close()
    old = sqlite3.connect(path)  # as version 3 left it: history without counted
    old.executescript(
        "DROP TABLE history; CREATE TABLE history (jail TEXT NOT NULL, addr TEXT NOT NULL, "
        "start REAL NOT NULL, bantime REAL NOT NULL, count INTEGER NOT NULL);"
        "INSERT INTO history VALUES ('sshd', '192.0.2.1', 10.0, 100.0, 1);"
        "PRAGMA user_version=3;")
    old.close()
    store = SqliteBanStore(path)
    try:
        store.add_bans([StoredBan("sshd", "192.0.2.2", 20.0, 100.0, counted=False)])
        assert [(b.addr, b.counted) for b in store.load_history(0.0)] == [
            ("192.0.2.1", True), ("192.0.2.2", False)]
    finally:
        store.close()


def test_members_and_trust_survive_reopening_a_version_2_database(tmp_path: Path) -> None:
    path = tmp_path / "v2.db"
    first = SqliteBanStore(path)
    first.close()
    old = sqlite3.connect(path)  # as version 2 left it: no ban_members, no trust
    old.executescript("DROP TABLE ban_members; DROP TABLE trust; PRAGMA user_version=2;")
    old.close()
    store = SqliteBanStore(path)
    store.add_bans([StoredBan("sshd", "192.0.2.0/24", 100.0, -1.0, 1, (), ("192.0.2.9",))])
    store.save_trust([TrustEntry("sshd", "192.0.2.5", 100.0)])
    store.close()
    again = SqliteBanStore(path)
    try:
        assert [b.members for b in again.active_bans(1e9)] == [("192.0.2.9",)]
        assert again.trust(0.0) == [TrustEntry("sshd", "192.0.2.5", 100.0)]
    finally:
        again.close()
