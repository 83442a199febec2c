"""FileSource on a live event loop: rotation of each kind while lines keep coming, globs,
missing files, broken files, restarts. Each test runs with the kernel's notification (inotify
on Linux, kqueue on BSD) and with polling."""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from warden.errors import SourceError
from warden.sources.base import FilePosition, LogBatch, SourceState
from warden.sources.filetail import FileSource, LogSpec, make_watcher
from warden.sources.polling import PollingWatcher
from warden.sources.tail import Start

from .helpers import BACKENDS, NATIVE, collect, until


def source(backend: str, *patterns: str, **kw: object) -> FileSource:
    watcher = PollingWatcher(interval=0.005) if backend == "polling" else None
    kw.setdefault("grace", 0.2)
    return FileSource([LogSpec(p) for p in patterns], backend=backend, watcher=watcher,
                      **kw)  # type: ignore[arg-type]


def run(coro: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(coro(), 30))


async def write_lines(f, lines: list[str], *, every: int = 7) -> None:
    for i, line in enumerate(lines):
        f.write(line + "\n")
        f.flush()
        if i % every == 0:
            await asyncio.sleep(0)  # let the reader run between writes


@pytest.mark.parametrize("backend", BACKENDS)
def test_rename_and_create_while_lines_keep_coming(tmp_path, backend):
    log = tmp_path / "auth.log"
    log.write_text("")
    expected = [f"line {i}" for i in range(3000)]

    async def main() -> None:
        src = source(backend, str(log))
        it = src.batches()
        got: list[str] = []

        async def writer() -> None:
            with open(log, "a") as f:
                await write_lines(f, expected[:1000])
                os.rename(log, str(log) + ".1")
                await write_lines(f, expected[1000:1200])  # the writer has not reopened yet
            with open(log, "a") as f:  # reopened: a new file under the old name
                await write_lines(f, expected[1200:])

        async with asyncio.TaskGroup() as tg:
            tg.create_task(writer())
            got = await collect(it, len(expected), timeout=20)
        assert got == expected
        src.close()

    run(main)


@pytest.mark.parametrize("backend", BACKENDS)
def test_copytruncate_while_lines_keep_coming(tmp_path, backend):
    log = tmp_path / "auth.log"
    log.write_text("")
    first = [f"before {i}" for i in range(1500)]
    after = [f"after truncation, a longer line {i}" for i in range(1500)]

    async def main() -> None:
        src = source(backend, str(log))
        it = src.batches()
        got: list[str] = []

        async def reader() -> None:
            got.extend(await collect(it, len(first) + len(after), timeout=20))

        async def writer() -> None:
            with open(log, "a") as f:  # O_APPEND, as syslog daemons write
                await write_lines(f, first)
                # logrotate copies, then truncates; lines not read before that are lost for
                # any reader, so rotate once the reader has caught up
                await until(lambda: _offset(src, log) == log.stat().st_size, timeout=10)
                shutil.copy(log, str(log) + ".1")
                os.truncate(log, 0)
                await write_lines(f, after)

        async with asyncio.TaskGroup() as tg:
            tg.create_task(reader())
            tg.create_task(writer())
        assert got == first + after
        src.close()

    run(main)


def _offset(src: FileSource, log: Path) -> int:
    pos = src.positions().get(str(log))
    return -1 if pos is None else pos.offset


@pytest.mark.parametrize("backend", BACKENDS)
def test_delete_and_recreate_while_lines_keep_coming(tmp_path, backend):
    log = tmp_path / "auth.log"
    log.write_text("")
    expected = [f"entry {i}" for i in range(2000)]

    async def main() -> None:
        src = source(backend, str(log))
        it = src.batches()

        async def writer() -> None:
            with open(log, "a") as f:
                await write_lines(f, expected[:800])
                log.unlink()
                await write_lines(f, expected[800:900])  # still written to the deleted file
            with open(log, "a") as f:
                await write_lines(f, expected[900:])

        async with asyncio.TaskGroup() as tg:
            tg.create_task(writer())
            got = await collect(it, len(expected), timeout=20)
        assert got == expected
        src.close()

    run(main)


@pytest.mark.parametrize("backend", BACKENDS)
def test_glob_picks_up_new_files_and_reports_unmatched_patterns(tmp_path, backend):
    (tmp_path / "a.log").write_text("a1\n")
    pattern = str(tmp_path / "*.log")
    nothing = str(tmp_path / "none" / "*.log")

    async def main() -> None:
        src = source(backend, pattern, nothing)
        it = src.batches()
        assert await collect(it, 1) == ["a1"]
        states = {s.path: s.state for s in src.status()}
        assert states == {str(tmp_path / "a.log"): SourceState.OK, nothing: SourceState.MISSING}
        (tmp_path / "b.log").write_text("b1\nb2\n")
        batches: list[LogBatch] = []
        assert await collect(it, 2, into=batches) == ["b1", "b2"]
        assert batches[0].source == str(tmp_path / "b.log")
        (tmp_path / "ignored.txt").write_text("no\n")
        with open(tmp_path / "a.log", "a") as f:
            f.write("a2\n")
        assert await collect(it, 1) == ["a2"]
        src.close()

    run(main)


@pytest.mark.parametrize("backend", BACKENDS)
def test_missing_file_then_created_and_other_files_go_on(tmp_path, backend):
    missing = tmp_path / "later.log"
    other = tmp_path / "other.log"
    other.write_text("")

    async def main() -> None:
        src = source(backend, str(missing), str(other))
        it = src.batches()
        task = asyncio.ensure_future(collect(it, 1))
        await until(lambda: len(src.status()) == 2)
        assert {s.path: s.state for s in src.status()}[str(missing)] is SourceState.MISSING
        with open(other, "a") as f:
            f.write("other 1\n")
        assert await task == ["other 1"]
        missing.write_text("hello\n")
        assert await collect(it, 1) == ["hello"]
        assert all(s.state is SourceState.OK for s in src.status())
        src.close()

    run(main)


@pytest.mark.parametrize("backend", BACKENDS)
def test_missing_directory_created_later(tmp_path, backend):
    log = tmp_path / "svc" / "x.log"

    async def main() -> None:
        src = source(backend, str(log), rescan=0.05)  # found by the rescan safety net
        it = src.batches()
        task = asyncio.ensure_future(collect(it, 1))
        await asyncio.sleep(0)
        log.parent.mkdir()
        log.write_text("found\n")
        assert await task == ["found"]
        src.close()

    run(main)


@pytest.mark.parametrize("backend", BACKENDS)
def test_file_replaced_by_a_directory_is_an_error_state_not_a_crash(tmp_path, backend):
    log = tmp_path / "x.log"
    other = tmp_path / "y.log"
    log.write_text("a\n")
    other.write_text("")

    async def main() -> None:
        src = source(backend, str(log), str(other))
        it = src.batches()
        assert await collect(it, 1) == ["a"]
        log.unlink()
        log.mkdir()
        with open(other, "a") as f:
            f.write("y still read\n")
        assert await collect(it, 1) == ["y still read"]
        await until(lambda: {s.path: s.state for s in src.status()}[str(log)]
                    is SourceState.ERROR)
        status = {s.path: s for s in src.status()}[str(log)]
        assert status.error == f"{log}: is a directory"
        log.rmdir()
        log.write_text("b\n")
        assert await collect(it, 1) == ["b"]
        src.close()

    run(main)


def test_kernel_events_wake_up_without_polling(tmp_path):
    log = tmp_path / "x.log"
    log.write_text("")

    async def main() -> None:
        # a rescan of an hour: only the kernel's event can deliver the line in time
        src = source(NATIVE, str(log), rescan=3600)
        it = src.batches()
        task = asyncio.ensure_future(collect(it, 1, timeout=2))
        await until(lambda: src.status() != [])
        await asyncio.sleep(0)
        with open(log, "a") as f:
            f.write("now\n")
        assert await task == ["now"]
        src.close()

    run(main)


def test_symlinked_log_is_followed_by_its_target_directory(tmp_path):
    real = tmp_path / "data"
    real.mkdir()
    target = real / "auth.log"
    target.write_text("")
    links = tmp_path / "var"
    links.mkdir()
    (links / "auth.log").symlink_to(target)

    async def main() -> None:
        src = source(NATIVE, str(links / "auth.log"), rescan=3600)
        it = src.batches()
        task = asyncio.ensure_future(collect(it, 1, timeout=2))
        await asyncio.sleep(0.01)
        with open(target, "a") as f:
            f.write("via link\n")
        assert await task == ["via link"]
        src.close()

    run(main)


def test_one_reader_per_file_however_many_patterns(tmp_path):
    log = tmp_path / "x.log"
    log.write_text("once\n")
    src = FileSource([LogSpec(str(log)), LogSpec(str(tmp_path / "*.log")),
                      LogSpec(str(tmp_path / "x.l?g"))], backend="polling")
    batches = src.read_now()
    assert [b.lines for b in batches] == [["once"]]
    assert len(src.status()) == 1
    assert src.patterns(str(log)) == (str(log), str(tmp_path / "*.log"), str(tmp_path / "x.l?g"))
    (tmp_path / "y.log").write_text("other\n")
    assert [b.lines for b in src.read_now()] == [["other"]]
    assert src.patterns(str(tmp_path / "y.log")) == (str(tmp_path / "*.log"),)
    assert src.patterns("/nowhere") == ()
    src.close()


def test_positions_across_a_restart(tmp_path):
    log = tmp_path / "x.log"
    log.write_text("a\nb\n")
    src = FileSource([LogSpec(str(log))], backend="polling")
    assert [ln for b in src.read_now() for ln in b.lines] == ["a", "b"]
    saved = src.positions()
    src.close()
    with open(log, "a") as f:
        f.write("c\n")
    again = FileSource([LogSpec(str(log))], backend="polling", positions=saved)
    assert [ln for b in again.read_now() for ln in b.lines] == ["c"]
    assert again.positions()[str(log)].offset == 6
    again.close()


def test_first_start_reads_only_the_last_findtime_and_new_files_whole(tmp_path):
    log = tmp_path / "x.log"
    log.write_text("".join(f"T={t} x\n" for t in range(1000)))

    def date_of(line: str) -> float | None:
        return float(line[2:line.index(" ")]) if line.startswith("T=") else None

    start = Start("head", since=995, date_of=date_of)
    src = FileSource([LogSpec(str(tmp_path / "*.log"), start=start)], backend="polling")
    assert [ln for b in src.read_now() for ln in b.lines] == [f"T={t} x" for t in range(995, 1000)]
    (tmp_path / "y.log").write_text("T=1 old but new file\n")
    assert [ln for b in src.read_now() for ln in b.lines] == ["T=1 old but new file"]
    src.close()


def test_tail_start_and_encoding(tmp_path):
    log = tmp_path / "x.log"
    log.write_bytes(b"old\n")
    src = FileSource([LogSpec(str(log), encoding="latin-1", start=Start("tail"))],
                     backend="polling")
    assert src.read_now() == []
    with open(log, "ab") as f:
        f.write(b"caf\xe9\n")
    assert [b.lines for b in src.read_now()] == [["café"]]
    src.close()


def test_systemd_is_not_a_file_backend(tmp_path):
    with pytest.raises(SourceError, match="JournalSource reads it"):
        FileSource([LogSpec(str(tmp_path / "x"))], backend="systemd")


def test_make_watcher_kinds():
    with pytest.raises(ValueError, match="no file watcher"):
        make_watcher("systemd")
    w = make_watcher("polling", interval=0.5)
    assert isinstance(w, PollingWatcher) and w.interval == 0.5
    w.close()


def test_big_append_is_read_in_blocks_without_waiting(tmp_path):
    log = tmp_path / "x.log"
    log.write_text("")
    n = 50_000

    async def main() -> None:
        src = source(NATIVE, str(log), block=64 * 1024, rescan=3600)
        it = src.batches()
        task = asyncio.ensure_future(collect(it, n, timeout=10))
        await asyncio.sleep(0.01)
        with open(log, "a") as f:
            f.write("".join(f"sshd[{i}]: Failed password for root\n" for i in range(n)))
        got = await task
        assert got[0] == "sshd[0]: Failed password for root" and len(got) == n
        assert got[-1] == f"sshd[{n - 1}]: Failed password for root"
        pos = src.positions()[str(log)]
        assert isinstance(pos, FilePosition) and pos.offset == log.stat().st_size
        src.close()

    run(main)


def test_relative_logpath_is_woken_by_its_events(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "rel.log").write_text("")

    async def main() -> None:
        src = source(NATIVE, "rel.log", rescan=3600)
        it = src.batches()
        task = asyncio.ensure_future(collect(it, 1, timeout=2))
        await asyncio.sleep(0.01)
        with open("rel.log", "a") as f:
            f.write("relative\n")
        assert await task == ["relative"]
        src.close()

    run(main)


def test_many_files_of_a_glob(tmp_path):
    for i in range(300):
        (tmp_path / f"{i:03d}.log").write_text(f"file {i}\n")
    src = FileSource([LogSpec(str(tmp_path / "*.log"))], backend=NATIVE)
    assert sorted(ln for b in src.read_now() for ln in b.lines) == sorted(
        f"file {i}" for i in range(300))
    assert len(src.status()) == 300
    src.close()


def test_huge_and_endless_lines_never_stall(tmp_path):
    log = tmp_path / "x.log"
    log.write_bytes(b"y" * 5_000_000 + b"\nnext\n" + b"z" * 3_000_000)  # the last never ends
    src = FileSource([LogSpec(str(log))], backend="polling", max_line=1000, block=1 << 16)
    lines = [ln for b in src.read_now() for ln in b.lines]
    assert lines == ["y" * 1000, "next", "z" * 1000]
    with open(log, "ab") as f:
        f.write(b"zzz\nafter\n")
    assert [ln for b in src.read_now() for ln in b.lines] == ["after"]
    assert src.positions()[str(log)].offset == log.stat().st_size
    src.close()


@pytest.mark.parametrize("backend", BACKENDS)
def test_glob_with_a_wildcard_directory(tmp_path, backend):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "access.log").write_text("a\n")
    pattern = str(tmp_path / "*" / "access.log")

    async def main() -> None:
        src = source(backend, pattern, rescan=0.05)
        it = src.batches()
        assert await collect(it, 1) == ["a"]
        (tmp_path / "b").mkdir()  # a new site: its directory did not exist to be watched
        (tmp_path / "b" / "access.log").write_text("b\n")
        batches: list[LogBatch] = []
        assert await collect(it, 1, into=batches) == ["b"]
        assert batches[0].source == str(tmp_path / "b" / "access.log")
        assert src.patterns(batches[0].source) == (pattern,)
        src.close()

    run(main)


def test_a_flood_in_one_log_does_not_starve_another(tmp_path):
    flood, quiet = tmp_path / "flood.log", tmp_path / "quiet.log"
    flood.write_text("")
    quiet.write_text("")
    n = 400_000

    async def main() -> None:
        src = source(NATIVE, str(flood), str(quiet), block=32 * 1024, rescan=3600)
        it = src.batches()
        first = asyncio.ensure_future(anext(it))
        await asyncio.sleep(0.01)
        with open(flood, "a") as f:
            f.write("".join(f"flood {i}\n" for i in range(n)))
        batch = await first  # the backlog is being read now; then the other log gets a line
        with open(quiet, "a") as f:
            f.write("quiet line\n")
        order: list[str] = [batch.source]
        flooded = len(batch.lines) if batch.source == str(flood) else 0
        ticks = 0

        async def ticker() -> None:  # another task of the loop must run during the backlog
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0)

        tick_task = asyncio.ensure_future(ticker())
        async with asyncio.timeout(20):
            while flooded < n or str(quiet) not in order:
                batch = await anext(it)
                order.append(batch.source)
                if batch.source == str(flood):
                    flooded += len(batch.lines)
        tick_task.cancel()
        assert order.index(str(quiet)) < len(order) - 1  # not served only after the flood
        assert ticks > 10
        src.close()

    run(main)
