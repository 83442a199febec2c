"""The journal source, read from real journal files written by systemd-journal-remote."""

from __future__ import annotations

import asyncio
import datetime as dt
import shutil
import struct
import subprocess
import uuid
from pathlib import Path

import pytest

from warden.errors import SourceError
from warden.sources import journal
from warden.sources.base import JournalPosition, SourceState
from warden.sources.journal import (
    JournalSource,
    format_entry,
    parse_journalmatch,
)

REMOTE = shutil.which("systemd-journal-remote") or "/lib/systemd/systemd-journal-remote"
needs_journal = pytest.mark.skipif(
    journal.available() is not None or not Path(REMOTE).exists(),
    reason=journal.available() or "systemd-journal-remote is not installed "
    "(Debian package systemd-journal-remote)")

BOOT = "0123456789abcdef0123456789abcdef"
T0 = 1_700_000_000


# -- pure parts ------------------------------------------------------------------------------

@pytest.mark.parametrize(("entry", "line"), [
    ({"_HOSTNAME": "h", "SYSLOG_IDENTIFIER": "sshd", "_PID": 42, "MESSAGE": "hi"},
     "h sshd[42]: hi"),
    ({"_HOSTNAME": "h", "SYSLOG_IDENTIFIER": "sshd", "SYSLOG_PID": "0x10", "_PID": 42,
      "MESSAGE": "hi"}, "h sshd[16]: hi"),
    ({"_HOSTNAME": "h", "_COMM": "cron", "_PID": "abc", "MESSAGE": "m"}, "h cron[abc]: m"),
    ({"SYSLOG_IDENTIFIER": "x", "MESSAGE": "a\nb"}, "x: a\\nb"),
    ({"MESSAGE": [b"two", b"parts"]}, "two parts"),
    ({"_HOSTNAME": "h", "MESSAGE": b"bad \xff"}, "h bad \ufffd"),
    ({"_HOSTNAME": "h", "SYSLOG_IDENTIFIER": "kernel", "MESSAGE": "oops",
      "__MONOTONIC_TIMESTAMP": (dt.timedelta(seconds=12.5), uuid.UUID(BOOT))},
     "h kernel: [   12.500000] oops"),
    ({"_HOSTNAME": b"h", "SYSLOG_IDENTIFIER": b"kernel", "MESSAGE": b"raw",
      "_SOURCE_MONOTONIC_TIMESTAMP": b"3000000"}, "h kernel: [    3.000000] raw"),
    ({"SYSLOG_IDENTIFIER": b"sshd", "SYSLOG_PID": b"0x10", "MESSAGE": b"raw"}, "sshd[16]: raw"),
    ({"SYSLOG_IDENTIFIER": "kernel", "MESSAGE": "no stamp"}, "kernel: no stamp"),
    ({"SYSLOG_IDENTIFIER": "kernel", "MESSAGE": "m", "__MONOTONIC_TIMESTAMP": b"x"},
     "kernel: m"),
    ({}, ""),
])
def test_format_entry_like_fail2ban(entry, line):
    assert format_entry(entry) == line


@pytest.mark.parametrize(("lines", "groups"), [
    (["_SYSTEMD_UNIT=sshd.service + _COMM=sshd"], [["_SYSTEMD_UNIT=sshd.service"], ["_COMM=sshd"]]),
    (["_SYSTEMD_UNIT=a.service _PID=1", "_COMM=b"], [["_SYSTEMD_UNIT=a.service", "_PID=1"],
                                                    ["_COMM=b"]]),
    (["'MESSAGE=with space'"], [["MESSAGE=with space"]]),
    ([], []),
])
def test_parse_journalmatch(lines, groups):
    assert parse_journalmatch(lines) == groups


@pytest.mark.parametrize(("line", "message"), [
    ("sshd.service", "is not FIELD=value"),
    ("_systemd_unit=x", "is not FIELD=value"),
    ("=x", "is not FIELD=value"),
    ("'unclosed", "No closing quotation"),
])
def test_bad_journalmatch(line, message):
    with pytest.raises(SourceError, match=message):
        parse_journalmatch([line])


def test_missing_binding_is_one_clear_line(monkeypatch):
    monkeypatch.setattr(journal, "_journal", None)
    monkeypatch.setattr(journal, "_MISSING", "No module named 'systemd'")
    with pytest.raises(SourceError, match=r"needs the python systemd binding.*python3-systemd"):
        JournalSource(["_COMM=sshd"])


# -- real journal files --------------------------------------------------------------------

def export(i: int, message: str | bytes, unit: str = "sshd.service", ident: str = "sshd") -> bytes:
    """One entry in the journal export format (binary-safe for a bytes message)."""
    return export_at(T0 + i, message, unit, ident, seq=i)


def export_at(when: float, message: str | bytes, unit: str = "sshd.service",
              ident: str = "sshd", seq: int = 0) -> bytes:
    """One entry dated ``when`` (epoch seconds) in the journal export format."""
    head = (f"__REALTIME_TIMESTAMP={int(when * 1_000_000)}\n__MONOTONIC_TIMESTAMP={seq + 1}\n"
            f"_BOOT_ID={BOOT}\n_HOSTNAME=host\nSYSLOG_IDENTIFIER={ident}\n_PID={100 + seq}\n"
            f"_SYSTEMD_UNIT={unit}\n").encode()
    if isinstance(message, bytes):
        body = b"MESSAGE\n" + struct.pack("<Q", len(message)) + message + b"\n"
    else:
        body = f"MESSAGE={message}\n".encode()
    return head + body + b"\n"


def write_journal(path: Path, entries: list[bytes]) -> None:
    subprocess.run([REMOTE, f"--output={path}", "-"], input=b"".join(entries), check=True,
                   capture_output=True, timeout=30)


@pytest.fixture
def jdir(tmp_path: Path) -> Path:
    d = tmp_path / "journal"
    d.mkdir()
    write_journal(d / "a.journal", [
        export(0, "Failed password for root from 192.0.2.1 port 22 ssh2"),
        export(1, "cron ran", unit="cron.service", ident="CRON"),
        export(2, b"Invalid user \xff from 192.0.2.2"),
        export(3, "Accepted publickey for alice from 198.51.100.7"),
    ])
    return d


@needs_journal
@pytest.mark.parametrize("raw", [True, False], ids=["raw-fields", "converted-fields"])
def test_reads_matching_entries_with_their_times(jdir, raw):
    src = JournalSource(["_SYSTEMD_UNIT=sshd.service"], path=str(jdir), since=0)
    assert src._raw  # this binding offers the fast path; the other is its fallback
    src._raw = raw
    batches = src.read_now()
    lines = [ln for b in batches for ln in b.lines]
    times = [t for b in batches for t in (b.times or [])]
    assert lines == ["host sshd[100]: Failed password for root from 192.0.2.1 port 22 ssh2",
                     "host sshd[102]: Invalid user \ufffd from 192.0.2.2",
                     "host sshd[103]: Accepted publickey for alice from 198.51.100.7"]
    assert times == [T0, T0 + 2, T0 + 3]
    st = src.status()[0]
    assert st.state is SourceState.OK and isinstance(st.position, JournalPosition)
    src.close()
    src.close()


@needs_journal
@pytest.mark.parametrize("raw", [True, False], ids=["raw-fields", "converted-fields"])
def test_kernel_entries(tmp_path, raw):
    d = tmp_path / "j"
    d.mkdir()
    kernel = export(0, "Out of memory", unit="kernel", ident="kernel").replace(
        b"_PID=100\n", b"_SOURCE_MONOTONIC_TIMESTAMP=12500000\n")
    plain = export(1, "no source stamp", ident="kernel").replace(b"_PID=101\n", b"")
    write_journal(d / "k.journal", [kernel, plain])
    src = JournalSource([], path=str(d), since=0)
    src._raw = raw
    lines = [ln for b in src.read_now() for ln in b.lines]
    assert lines == ["host kernel: [   12.500000] Out of memory",
                     "host kernel: [    0.000002] no source stamp"]
    src.close()


@needs_journal
def test_disjunction_and_since(jdir):
    src = JournalSource(["_SYSTEMD_UNIT=cron.service + _PID=103"], path=str(jdir),
                        since=T0 + 1)
    assert [ln for b in src.read_now() for ln in b.lines] == [
        "host CRON[101]: cron ran", "host sshd[103]: Accepted publickey for alice from "
        "198.51.100.7"]
    src.close()


@needs_journal
def test_resume_after_restart_from_the_cursor(jdir):
    src = JournalSource(["_SYSTEMD_UNIT=sshd.service"], path=str(jdir), since=0)
    first = src.read_now()
    cursor = first[-1].position  # as the daemon stores it
    assert isinstance(cursor, JournalPosition)
    src.close()
    again = JournalSource(["_SYSTEMD_UNIT=sshd.service"], path=str(jdir), cursor=cursor)
    assert again.read_now() == []  # nothing after the last entry read
    again.close()


@needs_journal
def test_cursor_after_the_first_entry(tmp_path):
    d = tmp_path / "j"
    d.mkdir()
    write_journal(d / "a.journal", [export(0, "one")])
    src = JournalSource([], path=str(d), since=0)
    cursor = src.read_now()[0].position
    assert isinstance(cursor, JournalPosition)
    src.close()
    write_journal(d / "b.journal", [export(1, "two"), export(2, "three")])
    again = JournalSource([], path=str(d), cursor=cursor)
    assert [ln for b in again.read_now() for ln in b.lines] == ["host sshd[101]: two",
                                                                 "host sshd[102]: three"]
    again.close()


@needs_journal
def test_default_start_is_the_end_and_new_entries_wake_the_source(jdir):
    async def main() -> None:
        src = JournalSource(["_SYSTEMD_UNIT=sshd.service"], path=str(jdir), rescan=3600)
        it = src.batches()
        nxt = asyncio.ensure_future(anext(it))
        await asyncio.sleep(0.01)
        assert not nxt.done()  # the old entries are not read without a cursor or a since
        await asyncio.to_thread(write_journal, jdir / "b.journal",
                                [export(10, "new failure"), export(11, "x", unit="other")])
        async with asyncio.timeout(10):
            batch = await nxt
        assert batch.lines == ["host sshd[110]: new failure"]
        assert batch.times == [T0 + 10]
        src.close()

    asyncio.run(main())


@needs_journal
def test_refused_match_and_unreadable_directory(tmp_path, jdir):
    with pytest.raises(SourceError, match="is not FIELD=value"):
        JournalSource(["nonsense"], path=str(jdir))
    with pytest.raises(SourceError, match=r"cannot open the journal .*nothing-here: No such"):
        JournalSource([], path=str(tmp_path / "nothing-here"))
    empty = tmp_path / "empty"
    empty.mkdir()
    src = JournalSource([], path=str(empty), since=0)
    assert src.read_now() == []  # an empty journal is not an error: entries may come
    src.close()


@needs_journal
def test_files_are_glob_patterns_and_flags_are_passed(jdir, tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    write_journal(other / "b.journal", [export(9, "second file", unit="cron.service",
                                               ident="CRON")])
    src = JournalSource(["_SYSTEMD_UNIT=cron.service"], since=0,
                        files=[str(jdir / "*.journal"), str(other / "b.journal")])
    assert [ln for b in src.read_now() for ln in b.lines] == [
        "host CRON[101]: cron ran", "host CRON[109]: second file"]
    assert src.status()[0].path == f"journal:{jdir}/*.journal {other}/b.journal"
    src.close()
    system = JournalSource([], flags=1)  # SD_JOURNAL_LOCAL_ONLY: the machine's own journal
    system.close()
    with pytest.raises(SourceError, match=r"journalfiles '/nonexistent/.+' matches no file"):
        JournalSource([], files=["/nonexistent/*.journal"])


def test_match_text_is_fail2bans_status_form():
    assert journal.match_text(["_SYSTEMD_UNIT=sshd.service + _COMM=sshd"]) == \
        "_SYSTEMD_UNIT=sshd.service + _COMM=sshd"
    assert journal.match_text(["A=1 B=2", "C=3"]) == "A=1 B=2 + C=3"
    assert journal.match_text([]) == ""


@needs_journal
@pytest.mark.parametrize("raw", [True, False], ids=["raw-fields", "converted-fields"])
def test_the_senders_time_comes_first(tmp_path, raw):
    # journald stores when it received an entry; the sender's stamp is when it happened, and
    # fail2ban dates the failure by it
    d = tmp_path / "j"
    d.mkdir()
    sent = export_at(T0 + 50, "sent late").replace(
        b"_BOOT_ID=", f"_SOURCE_REALTIME_TIMESTAMP={(T0 + 7) * 1_000_000}\n_BOOT_ID=".encode())
    write_journal(d / "a.journal", [sent, export_at(T0 + 60, "plain", seq=1)])
    src = JournalSource([], path=str(d), since=0)
    src._raw = raw
    times = [t for b in src.read_now() for t in (b.times or [])]
    src.close()
    assert times == [T0 + 7, T0 + 60]
