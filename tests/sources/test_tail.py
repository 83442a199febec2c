"""FileTail: one file read as it grows, across truncation, rotation and restarts."""

from __future__ import annotations

import json
import os
import shutil
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from warden.sources.base import FilePosition, SourceState, position_from_dict
from warden.sources.tail import HEAD_BYTES, FileTail, Start


def pos_of(tail: FileTail) -> FilePosition:
    pos = tail.position()
    assert pos is not None
    return pos


def lines_of(tail: FileTail, now: float = 0.0, *, follow: bool = True) -> list[str]:
    batches, more = tail.check(now=now, follow=follow)
    assert not more
    return [line for b in batches for line in b.lines]


@pytest.fixture
def log(tmp_path: Path) -> Path:
    return tmp_path / "auth.log"


def append(path: Path, text: str) -> None:
    with open(path, "a") as f:
        f.write(text)


def test_reads_appends_and_holds_the_partial_line(log):
    log.write_text("a\nb\npar")
    tail = FileTail(str(log))
    assert tail.open()
    assert lines_of(tail) == ["a", "b"]
    assert pos_of(tail).offset == 4
    assert lines_of(tail) == []
    append(log, "tial\r\nc\n")
    assert lines_of(tail) == ["partial", "c"]
    assert pos_of(tail).offset == log.stat().st_size
    tail.close()


def test_copytruncate_with_more_data_than_before(log):
    log.write_text("".join(f"old {i}\n" for i in range(10)))
    tail = FileTail(str(log))
    tail.open()
    assert len(lines_of(tail)) == 10
    # copytruncate, then the writer (O_APPEND) writes more than the old size before we look
    shutil.copy(log, str(log) + ".1")
    with open(log, "r+") as f:
        f.truncate(0)
    append(log, "".join(f"new line number {i}\n" for i in range(20)))
    assert lines_of(tail) == [f"new line number {i}" for i in range(20)]
    tail.close()


def test_truncated_to_shorter(log):
    log.write_text("x" * 50 + "\n")
    tail = FileTail(str(log))
    tail.open()
    lines_of(tail)
    log.write_text("y\n")  # open with truncation, then write: shorter than before
    assert lines_of(tail) == ["y"]


def test_head_longer_than_fingerprint_then_truncated(log):
    first = "".join(f"{i:05d} " + "h" * 90 + "\n" for i in range(30))
    assert len(first) > HEAD_BYTES
    log.write_text(first)
    tail = FileTail(str(log))
    tail.open()
    assert len(lines_of(tail)) == 30
    with open(log, "r+") as f:
        f.truncate(0)
    append(log, "".join(f"{i:05d} " + "k" * 200 + "\n" for i in range(30)))
    assert len(lines_of(tail)) == 30


def test_rename_and_create_reads_the_rest_first(log):
    log.write_text("1\n")
    tail = FileTail(str(log))
    tail.open()
    assert lines_of(tail) == ["1"]
    with open(log, "a") as writer:
        writer.write("2\n")
        writer.flush()
        os.rename(log, str(log) + ".1")
        writer.write("3 still old\n")  # the writer has not reopened yet
        writer.flush()
        log.write_text("4 new\n")
        assert lines_of(tail, 0.0) == ["2", "3 still old", "4 new"]
        assert tail.retired == 1
        assert tail.opened == 2
        writer.write("5 late\n")  # still written to the old file within the grace period
        writer.flush()
    append(log, "6\n")
    assert lines_of(tail, 1.0) == ["5 late", "6"]
    assert tail.position() == FilePosition(str(log), 8, *_ident(log), pos_of(tail).head, 8)
    assert lines_of(tail, 10.0) == []  # grace over: the old file is closed
    assert tail.retired == 0


def _ident(path: Path) -> tuple[int, int]:
    st = path.stat()
    return st.st_dev, st.st_ino


def test_rotated_file_unfinished_line_is_flushed_at_the_end_of_grace(log):
    log.write_text("done\nhalf")
    tail = FileTail(str(log))
    tail.open()
    assert lines_of(tail) == ["done"]
    os.rename(log, str(log) + ".1")
    assert lines_of(tail, 0.0) == []
    assert tail.state is SourceState.MISSING
    assert lines_of(tail, 6.0) == ["half"]


def test_delete_and_recreate(log):
    log.write_text("a\n")
    tail = FileTail(str(log))
    tail.open()
    lines_of(tail)
    append(log, "b\n")
    log.unlink()
    assert lines_of(tail, 0.0) == ["b"]  # the rest of the deleted file is still read
    assert tail.status().state is SourceState.MISSING
    assert pos_of(tail).offset == 4  # the last position is still shown
    log.write_text("c\n")
    assert lines_of(tail, 0.1) == ["c"]
    assert tail.status().state is SourceState.OK


def test_missing_file_then_created(log):
    tail = FileTail(str(log))
    assert not tail.open()
    assert tail.status().state is SourceState.MISSING and tail.status().error is None
    assert lines_of(tail) == []
    log.write_text("first\n")
    assert lines_of(tail) == ["first"]


def test_without_follow_a_missing_file_is_not_looked_for(log):
    tail = FileTail(str(log))
    tail.open()
    log.write_text("x\n")
    assert lines_of(tail, follow=False) == []


def test_replaced_by_a_directory(log):
    log.write_text("a\n")
    tail = FileTail(str(log))
    tail.open()
    lines_of(tail)
    log.unlink()
    log.mkdir()
    assert lines_of(tail) == []
    st = tail.status()
    assert st.state is SourceState.ERROR
    assert st.error == f"{log}: is a directory"
    log.rmdir()
    log.write_text("back\n")
    assert lines_of(tail) == ["back"]
    assert tail.status().state is SourceState.OK


def test_symlink_loop_is_an_error_state(log):
    os.symlink(log, log)
    tail = FileTail(str(log))
    assert not tail.open()
    assert tail.status().state is SourceState.ERROR
    assert "symbolic links" in (tail.status().error or "")


def test_unreadable_file_as_an_unprivileged_user(log, tmp_path):
    # root reads everything; drop to nobody in a child process to see a real EACCES
    log.write_text("secret\n")
    log.chmod(0o600 if os.geteuid() == 0 else 0)
    tmp_path.chmod(0o755)
    if os.geteuid() != 0:
        tail = FileTail(str(log))
        assert not tail.open()
        assert tail.status().error == f"{log}: Permission denied"
        return
    rfd, wfd = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        try:
            os.close(rfd)
            os.setgroups([])
            os.setresgid(65534, 65534, 65534)
            os.setresuid(65534, 65534, 65534)
            tail = FileTail(str(log))
            opened = tail.open()
            batches, _ = tail.check(now=0.0, follow=True)
            st = tail.status()
            os.write(wfd, json.dumps([opened, st.state.value, st.error, len(batches)]).encode())
        finally:
            os._exit(0)
    os.close(wfd)
    with os.fdopen(rfd, "rb") as r:
        report = json.loads(r.read() or b"null")
    os.waitpid(pid, 0)
    assert report == [False, "error", f"{log}: Permission denied", 0]


def test_huge_line_and_invalid_utf8(log):
    log.write_bytes(b"x" * 100_000 + b"\n\xff\xfeok\nfine\n")
    tail = FileTail(str(log), max_line=1000)
    tail.open()
    assert lines_of(tail) == ["x" * 1000, "\ufffd\ufffdok", "fine"]


def test_block_limit_reports_more(log):
    log.write_text("".join(f"{i}\n" for i in range(1000)))
    tail = FileTail(str(log), block=1000)
    tail.open()
    got: list[str] = []
    rounds = 0
    while True:
        batches, more = tail.check(now=0.0, follow=False)
        got.extend(line for b in batches for line in b.lines)
        rounds += 1
        if not more:
            break
    assert got == [str(i) for i in range(1000)]
    assert rounds > 3


# -- start-up: stored positions, head/tail, since ------------------------------------------

def test_resume_after_restart(log):
    log.write_text("a\nb\n")
    tail = FileTail(str(log))
    tail.open()
    lines_of(tail)
    saved = position_from_dict(json.loads(json.dumps(pos_of(tail).as_dict())))
    assert isinstance(saved, FilePosition)
    tail.close()
    append(log, "c\n")  # written while the daemon was down
    again = FileTail(str(log))
    again.open(resume=saved, start=Start("head"))
    assert lines_of(again) == ["c"]


def test_resume_in_a_rotated_away_file_starts_the_new_file_at_zero(log):
    log.write_text("a\nb\n")
    tail = FileTail(str(log))
    tail.open()
    lines_of(tail)
    saved = tail.position()
    tail.close()
    os.rename(log, str(log) + ".1")
    log.write_text("z\nnew file\nlonger than before\n")
    again = FileTail(str(log))
    again.open(resume=saved, start=Start("tail"))
    assert lines_of(again) == ["z", "new file", "longer than before"]


def test_resume_beyond_the_end_starts_over(log):
    log.write_text("a\n")
    st = log.stat()
    tail = FileTail(str(log))
    tail.open(resume=FilePosition(str(log), 500, st.st_dev, st.st_ino, "", 0))
    assert lines_of(tail) == ["a"]


def test_resume_offset_inside_a_line_moves_to_the_next_line(log):
    log.write_text("abc\ndef\n")
    tail = FileTail(str(log))
    tail.open()
    pos = pos_of(tail)
    tail.close()
    again = FileTail(str(log))
    again.open(resume=replace(pos, offset=2))
    assert lines_of(again) == ["def"]


def test_start_at_tail(log):
    log.write_text("old\nolder\nhalf")
    tail = FileTail(str(log))
    tail.open(start=Start("tail"))
    append(log, " done\nnew\n")
    assert lines_of(tail) == ["half done", "new"]


def test_start_at_the_last_findtime(log):
    log.write_text("".join(f"T={t} line\n" for t in range(100, 200)))
    tail = FileTail(str(log))

    def date_of(line: str) -> float | None:
        return float(line[2:line.index(" ")]) if line.startswith("T=") else None

    tail.open(start=Start("head", since=190, date_of=date_of))
    assert lines_of(tail) == [f"T={t} line" for t in range(190, 200)]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc/self/mem is Linux's")
def test_io_error_becomes_a_state():
    # /proc/self/mem is a regular file whose offset 0 is unmapped: reading it fails with EIO
    tail = FileTail("/proc/self/mem")
    assert not tail.open()
    assert tail.status().state is SourceState.ERROR
    assert tail.status().error == "/proc/self/mem: Input/output error"


def test_a_fifo_is_not_a_log(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    tail = FileTail(str(fifo))
    assert not tail.open()
    assert tail.status().error == f"{fifo}: is not a regular file"
    assert tail.fd is None


def test_after_a_truncation_the_new_head_is_learned(log):
    # regression: the old head was kept, so every later check saw a "new" file and re-read it
    log.write_text("".join(f"old {i:04d} " + "o" * 60 + "\n" for i in range(40)))
    tail = FileTail(str(log))
    tail.open()
    assert len(lines_of(tail)) == 40
    os.truncate(log, 0)
    append(log, "n1\n")
    assert lines_of(tail) == ["n1"]
    append(log, "n2\n")
    assert lines_of(tail) == ["n2"]


def test_a_rotated_file_still_written_is_kept_past_the_grace(log):
    log.write_text("")
    tail = FileTail(str(log))
    tail.open()
    with open(log, "a") as writer:  # a writer that takes long to reopen
        os.rename(log, str(log) + ".1")
        log.write_text("")
        assert lines_of(tail, 0.0) == []
        for t in (4.0, 8.0, 12.0):  # each write comes within the grace of the previous one
            writer.write(f"late at {t}\n")
            writer.flush()
            assert lines_of(tail, t) == [f"late at {t}"]
        assert tail.retired == 1
    assert lines_of(tail, 16.9) == []
    assert tail.retired == 1
    assert lines_of(tail, 17.0) == []  # quiet for 5 s: let go
    assert tail.retired == 0
