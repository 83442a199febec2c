"""The SQLite ban store (WAL mode): active bans, ban history, ends of bans, log positions,
the matched log lines of each (jail, address)'s latest ban (``ban_matches``), the members
of escalated network bans (``ban_members``) and the latest successful login of each trusted
address (``trust``).

Each public method is one transaction, so a burst of bans costs one commit (one fsync).
``synchronous=FULL``: a ban reported to the caller survives a crash or power loss.
A database that SQLite cannot read is moved aside (``NAME.corrupt-N``) and a fresh one
created; that is logged once and nothing else stops.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from warden.store.model import (
    BanKey,
    HistoryEntry,
    PositionData,
    StoredBan,
    TrustEntry,
    bounded_line,
)

__all__ = ["SCHEMA_VERSION", "SqliteBanStore"]

log = logging.getLogger("warden.store")

#: 1: bans, history, positions, ends, fleet tables; 2: ban_matches; 3: ban_members, trust;
#: 4: history.counted (a ban the jail made for failures it counted, not by hand or the fleet)
SCHEMA_VERSION = 4

# What takes a database of version N to N + 1 (the version is set once all have run, in the
# same transaction as them).
_MIGRATIONS: dict[int, str] = {
    1: """
CREATE TABLE IF NOT EXISTS ban_matches (
    jail TEXT NOT NULL, addr TEXT NOT NULL, start REAL NOT NULL, lines TEXT NOT NULL,
    PRIMARY KEY (jail, addr)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS ban_matches_addr ON ban_matches (addr);
CREATE INDEX IF NOT EXISTS ban_matches_start ON ban_matches (start);
""",
    2: """
CREATE TABLE IF NOT EXISTS ban_members (
    jail TEXT NOT NULL, addr TEXT NOT NULL, start REAL NOT NULL, members TEXT NOT NULL,
    PRIMARY KEY (jail, addr)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS trust (
    jail TEXT NOT NULL, key TEXT NOT NULL, at REAL NOT NULL,
    PRIMARY KEY (jail, key)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS trust_at ON trust (at);
""",
}

# Columns a version adds to a table of an earlier one: (table, column, declaration). Added
# only where missing (ALTER TABLE has no "IF NOT EXISTS"), so a migration can run again.
_COLUMNS: dict[int, tuple[str, str, str]] = {
    # (bans recorded before it are taken as counted: how they were treated until then)
    3: ("history", "counted", "INTEGER NOT NULL DEFAULT 1"),
}

_SCHEMA = """
CREATE TABLE IF NOT EXISTS bans (
    jail TEXT NOT NULL, addr TEXT NOT NULL, start REAL NOT NULL, bantime REAL NOT NULL,
    count INTEGER NOT NULL, PRIMARY KEY (jail, addr)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS history (
    jail TEXT NOT NULL, addr TEXT NOT NULL, start REAL NOT NULL, bantime REAL NOT NULL,
    count INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS history_addr ON history (addr, start);
CREATE INDEX IF NOT EXISTS history_start ON history (start);
CREATE TABLE IF NOT EXISTS positions (key TEXT PRIMARY KEY, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS ends (
    jail TEXT NOT NULL, addr TEXT NOT NULL, at REAL NOT NULL,
    PRIMARY KEY (jail, addr)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS fleet_cursors (stream TEXT PRIMARY KEY, last_id TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS fleet_outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT,
    entry TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS fleet_origins (
    jail TEXT NOT NULL, addr TEXT NOT NULL, origin TEXT NOT NULL,
    PRIMARY KEY (jail, addr)) WITHOUT ROWID;
"""

# the matched lines of a ban are those stored with the same start (a later ban without lines,
# manual or from the fleet, does not inherit the lines of an earlier one)
_ACTIVE = """
SELECT b.jail, b.addr, b.start, b.bantime, b.count, m.lines, e.members FROM bans AS b
LEFT JOIN ban_matches AS m ON m.jail = b.jail AND m.addr = b.addr AND m.start = b.start
LEFT JOIN ban_members AS e ON e.jail = b.jail AND e.addr = b.addr AND e.start = b.start
WHERE b.bantime < 0 OR b.start + b.bantime > ? ORDER BY b.start
"""


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    # quick_check reads every page: a damaged file is found now, not in the middle of a ban.
    (result,) = conn.execute("PRAGMA quick_check").fetchone()
    if result != "ok":
        conn.close()
        raise sqlite3.DatabaseError(f"integrity check failed: {result}")
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if not 0 <= version <= SCHEMA_VERSION:
        conn.close()
        raise sqlite3.DatabaseError(f"unknown schema version {version}")
    # Every table of version 1 is created if missing (tables were added to it without a new
    # version); the migrations add what came later, in one transaction with the new version,
    # so a crash half-way leaves the old version to migrate again.
    script = _SCHEMA
    for step in range(max(version, 1), SCHEMA_VERSION):
        script += _MIGRATIONS.get(step, "")
        if step in _COLUMNS:
            table, column, declaration = _COLUMNS[step]
            if column not in {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}:
                script += f"ALTER TABLE {table} ADD COLUMN {column} {declaration};\n"
    if version < SCHEMA_VERSION:
        if version:
            log.info("database %s: schema version %d -> %d", path, version, SCHEMA_VERSION)
        script += f"PRAGMA user_version={SCHEMA_VERSION};\n"
    conn.executescript(f"BEGIN IMMEDIATE;\n{script}COMMIT;\n")
    return conn


def _lines(text: str | None) -> tuple[str, ...]:
    if not text:
        return ()
    try:
        found = json.loads(text)
    except ValueError:
        return ()
    return tuple(str(x) for x in found) if isinstance(found, list) else ()


def _move_aside(path: Path) -> Path:
    n = 1
    while path.with_name(f"{path.name}.corrupt-{n}").exists():
        n += 1
    target = path.with_name(f"{path.name}.corrupt-{n}")
    os.replace(path, target)
    for suffix in ("-wal", "-shm"):
        side = path.with_name(path.name + suffix)
        if side.exists():
            os.replace(side, target.with_name(target.name + suffix))
    return target


class SqliteBanStore:
    """:class:`~warden.store.model.BanStore` on an SQLite file."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        """Open (or create) the database at ``path``; a corrupt one is moved aside."""
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._conn = _connect(self.path)
        except sqlite3.OperationalError as exc:
            # locked, unreadable directory, I/O error: the file may be fine, never move it
            raise OSError(f"{self.path}: {exc}") from None
        except sqlite3.DatabaseError as exc:
            aside = _move_aside(self.path)
            log.error("database %s is unreadable (%s); moved to %s, starting with an empty one",
                      self.path, exc, aside)
            self._conn = _connect(self.path)
        os.chmod(self.path, 0o600)

    def _write(self, sql: str, rows: Iterable[tuple[object, ...]]) -> None:
        with self._conn:
            self._conn.execute("BEGIN IMMEDIATE")
            self._conn.executemany(sql, rows)

    def add_bans(self, bans: Sequence[StoredBan]) -> None:
        """Record ``bans`` as active and in the history, in one transaction."""
        if not bans:
            return
        rows = [(b.jail, b.addr, b.start, b.bantime, b.count) for b in bans]
        history = [(b.jail, b.addr, b.start, b.bantime, b.count, int(b.counted)) for b in bans]
        lines = [(b.jail, b.addr, b.start, json.dumps([bounded_line(x) for x in b.matches]))
                 for b in bans if b.matches]
        members = [(b.jail, b.addr, b.start, json.dumps(list(b.members)))
                   for b in bans if b.members]
        with self._conn:
            self._conn.execute("BEGIN IMMEDIATE")
            self._conn.executemany(
                "INSERT OR REPLACE INTO bans (jail, addr, start, bantime, count) "
                "VALUES (?, ?, ?, ?, ?)", rows)
            self._conn.executemany(
                "INSERT INTO history (jail, addr, start, bantime, count, counted) "
                "VALUES (?, ?, ?, ?, ?, ?)", history)
            if lines:
                self._conn.executemany(
                    "INSERT OR REPLACE INTO ban_matches (jail, addr, start, lines) "
                    "VALUES (?, ?, ?, ?)", lines)
            if members:
                self._conn.executemany(
                    "INSERT OR REPLACE INTO ban_members (jail, addr, start, members) "
                    "VALUES (?, ?, ?, ?)", members)

    def remove_bans(self, keys: Iterable[BanKey], *, forget: bool = False,
                    at: float | None = None) -> None:
        """End the active bans named by ``keys`` (``forget``: and their history; ``at``:
        record when they ended), in one transaction."""
        rows = list(keys)
        with self._conn:
            self._conn.execute("BEGIN IMMEDIATE")
            self._conn.executemany("DELETE FROM bans WHERE jail = ? AND addr = ?", rows)
            self._conn.executemany("DELETE FROM ban_members WHERE jail = ? AND addr = ?", rows)
            if forget:
                self._conn.executemany("DELETE FROM history WHERE jail = ? AND addr = ?", rows)
                self._conn.executemany("DELETE FROM ban_matches WHERE jail = ? AND addr = ?",
                                       rows)
            if at is not None:
                # the latest end wins: a restart compares it with the kernel element's age
                self._conn.executemany(
                    "INSERT INTO ends (jail, addr, at) VALUES (?, ?, ?) "
                    "ON CONFLICT (jail, addr) DO UPDATE SET at = max(at, excluded.at)",
                    [(jail, addr, at) for jail, addr in rows])

    def ends(self, jails: Iterable[str]) -> dict[BanKey, float]:
        """When the bans of ``jails`` last ended."""
        found: dict[BanKey, float] = {}
        for jail in set(jails):
            rows = self._conn.execute("SELECT addr, at FROM ends WHERE jail = ?", (jail,))
            found.update(((jail, addr), float(at)) for addr, at in rows)
        return found

    def active_bans(self, now: float) -> list[StoredBan]:
        """Every ban still active at ``now``."""
        rows = self._conn.execute(_ACTIVE, (now,))
        return [StoredBan(jail, addr, start, bantime, count, _lines(lines), _lines(members))
                for jail, addr, start, bantime, count, lines, members in rows]

    def matches_of(self, addr: str) -> list[StoredBan]:
        """The latest ban of ``addr`` in each jail that kept its matched lines."""
        rows = self._conn.execute(
            "SELECT m.jail, m.start, m.lines, h.bantime, h.count FROM ban_matches AS m "
            "LEFT JOIN history AS h ON h.jail = m.jail AND h.addr = m.addr "
            "AND h.start = m.start WHERE m.addr = ? ORDER BY m.start", (addr,))
        return [StoredBan(jail, addr, start, -1.0 if bantime is None else bantime,
                          1 if count is None else count, _lines(lines))
                for jail, start, lines, bantime, count in rows]

    def history(self, addr: str, jail: str | None, since: float) -> HistoryEntry | None:
        """How often ``addr`` was banned since ``since`` (in ``jail``, or anywhere)."""
        sql = "SELECT count(*), max(start) FROM history WHERE addr = ? AND start >= ?"
        params: tuple[object, ...] = (addr, since)
        if jail is not None:
            sql += " AND jail = ?"
            params += (jail,)
        count, last = self._conn.execute(sql, params).fetchone()
        if not count:
            return None
        bantime_sql = "SELECT bantime FROM history WHERE addr = ? AND start = ?"
        bparams: tuple[object, ...] = (addr, last)
        if jail is not None:
            bantime_sql += " AND jail = ?"
            bparams += (jail,)
        (bantime,) = self._conn.execute(bantime_sql + " LIMIT 1", bparams).fetchone()
        return HistoryEntry(addr, int(count), float(last), float(bantime))

    def load_history(self, since: float) -> list[StoredBan]:
        """The latest ban of every (jail, address) since ``since``, with its ban count."""
        rows = self._conn.execute(
            "SELECT jail, addr, max(start), bantime, count(*), counted FROM history "
            "WHERE start >= ? GROUP BY jail, addr ORDER BY 3", (since,))
        # SQLite takes the bare columns bantime and counted from the row holding max(start).
        return [StoredBan(jail, addr, start, bantime, count, counted=bool(counted))
                for jail, addr, start, bantime, count, counted in rows]

    def purge_history(self, before: float) -> int:
        """Drop history entries that started before ``before``."""
        with self._conn:
            self._conn.execute("BEGIN IMMEDIATE")
            cursor = self._conn.execute("DELETE FROM history WHERE start < ?", (before,))
            dropped = cursor.rowcount
            self._conn.execute("DELETE FROM ends WHERE at < ?", (before,))
            # the lines of a ban still active stay (a long ban outlives the purge age)
            self._conn.execute(
                "DELETE FROM ban_matches WHERE start < ? AND NOT EXISTS (SELECT 1 FROM bans "
                "AS b WHERE b.jail = ban_matches.jail AND b.addr = ban_matches.addr)",
                (before,))
            return dropped

    def save_positions(self, positions: Mapping[str, PositionData]) -> None:
        """Remember each log's read position (as JSON)."""
        self._write("INSERT OR REPLACE INTO positions (key, data) VALUES (?, ?)",
                    ((key, json.dumps(dict(data))) for key, data in positions.items()))

    def positions(self) -> dict[str, PositionData]:
        """Every remembered log position (an unreadable entry is skipped)."""
        found: dict[str, PositionData] = {}
        for key, text in self._conn.execute("SELECT key, data FROM positions"):
            try:
                data = json.loads(text)
            except ValueError:
                continue
            if isinstance(data, dict):
                found[key] = data
        return found

    def fleet_cursors(self) -> dict[str, str]:
        """The last fleet entry ID read, by stream."""
        return dict(self._conn.execute("SELECT stream, last_id FROM fleet_cursors"))

    def save_fleet_cursors(self, cursors: Mapping[str, str]) -> None:
        """Remember the last entry ID read of each stream."""
        self._write("INSERT OR REPLACE INTO fleet_cursors (stream, last_id) VALUES (?, ?)",
                    cursors.items())

    def fleet_origins(self) -> dict[BanKey, str]:
        """The host that decided each ban taken from the fleet."""
        rows = self._conn.execute("SELECT jail, addr, origin FROM fleet_origins")
        return {(str(jail), str(addr)): str(origin) for jail, addr, origin in rows}

    def save_fleet_origins(self, origins: Mapping[BanKey, str | None]) -> None:
        """Remember (a host name) or forget (``None``) the origin of each ban, in one
        transaction."""
        if not origins:
            return
        with self._conn:
            self._conn.execute("BEGIN IMMEDIATE")
            self._conn.executemany(
                "DELETE FROM fleet_origins WHERE jail = ? AND addr = ?",
                [key for key, origin in origins.items() if origin is None])
            self._conn.executemany(
                "INSERT OR REPLACE INTO fleet_origins (jail, addr, origin) VALUES (?, ?, ?)",
                [(*key, origin) for key, origin in origins.items() if origin is not None])

    def save_trust(self, entries: Sequence[TrustEntry], before: float | None = None) -> None:
        """Remember the logins (the later time wins) and drop those older than ``before``,
        in one transaction."""
        if not entries and before is None:
            return
        with self._conn:
            self._conn.execute("BEGIN IMMEDIATE")
            self._conn.executemany(
                "INSERT INTO trust (jail, key, at) VALUES (?, ?, ?) "
                "ON CONFLICT (jail, key) DO UPDATE SET at = max(at, excluded.at)",
                [(e.jail, e.key, e.time) for e in entries])
            if before is not None:
                self._conn.execute("DELETE FROM trust WHERE at < ?", (before,))

    def trust(self, since: float) -> list[TrustEntry]:
        """The remembered logins since ``since``, oldest first."""
        rows = self._conn.execute(
            "SELECT jail, key, at FROM trust WHERE at >= ? ORDER BY at", (since,))
        return [TrustEntry(str(jail), str(key), float(at)) for jail, key, at in rows]

    def outbox_add(self, entries: Sequence[str]) -> None:
        """Queue fleet entries to publish, in one transaction."""
        if entries:
            self._write("INSERT INTO fleet_outbox (entry) VALUES (?)",
                        ((entry,) for entry in entries))

    def outbox(self, limit: int) -> list[tuple[int, str]]:
        """The oldest ``limit`` queued fleet entries, in order."""
        rows = self._conn.execute(
            "SELECT seq, entry FROM fleet_outbox ORDER BY seq LIMIT ?", (limit,))
        return [(int(seq), str(entry)) for seq, entry in rows]

    def outbox_remove(self, through: int) -> None:
        """Drop the queued fleet entries up to ``through``."""
        self._write("DELETE FROM fleet_outbox WHERE seq <= ?", [(through,)])

    def outbox_size(self) -> int:
        """How many fleet entries wait."""
        return int(self._conn.execute("SELECT count(*) FROM fleet_outbox").fetchone()[0])

    def close(self) -> None:
        """Checkpoint the WAL and close."""
        try:
            self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            self._conn.close()
