"""Restarting failed sources with backoff, and what status shows meanwhile."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator

import pytest

from warden.errors import SourceError
from warden.sources.base import LogBatch, SourceState, SourceStatus
from warden.sources.filetail import FileSource, LogSpec
from warden.sources.polling import PollingWatcher
from warden.sources.supervise import Backoff, Supervised


@pytest.mark.parametrize(("runs", "delays"), [
    ([0, 0, 0, 0, 0, 0, 0, 0], [0.5, 1, 2, 4, 8, 16, 32, 60]),
    ([0, 0, 0, 100, 0], [0.5, 1, 2, 0.5, 1]),  # a long run resets the series
])
def test_backoff_table(runs, delays):
    b = Backoff()
    assert [b.failed(ran_for=r) for r in runs] == delays
    assert b.restarts == len(runs)


class Flaky:
    """A source that yields its lines, then fails (a protocol twin of a broken reader)."""

    closed = 0

    def __init__(self, lines: list[str], error: Exception | None) -> None:
        self._lines = lines
        self._error = error

    async def batches(self) -> AsyncIterator[LogBatch]:
        for line in self._lines:
            yield LogBatch("flaky", [line], None)
        if self._error is not None:
            raise self._error

    def status(self) -> list[SourceStatus]:
        return [SourceStatus("flaky", SourceState.OK)]

    def close(self) -> None:
        Flaky.closed += 1


def test_failing_source_is_restarted_until_it_ends():
    plan = [Flaky(["a"], SourceError("disk on fire")), Flaky(["b"], OSError(5, "I/O error")),
            Flaky(["c"], KeyError("bug")), Flaky(["d"], None)]
    got: list[str] = []
    seen: list[list[SourceStatus]] = []

    async def main() -> None:
        sup: Supervised

        async def consume(batch: LogBatch) -> None:
            got.extend(batch.lines)
            seen.append(sup.status())

        sup = Supervised("flaky", lambda: plan.pop(0), consume,
                         backoff=Backoff(initial=0.001, maximum=0.002))
        await sup.run()
        assert sup.backoff.restarts == 3
        last = sup.status()
        assert last[0].restarts == 3

    Flaky.closed = 0
    asyncio.run(main())
    assert got == ["a", "b", "c", "d"]
    assert Flaky.closed == 4
    assert seen[1][0].restarts == 1 and seen[1][0].error == "disk on fire"
    assert seen[2][0].error == "[Errno 5] I/O error"
    assert seen[3][0].error == "KeyError: 'bug'"  # a bug in a source is named by its type


def test_status_while_waiting_for_the_backoff():
    async def main() -> None:
        async def consume(batch: LogBatch) -> None:
            pass

        def broken() -> FileSource:
            raise SourceError("unknown logencoding 'x'")

        sup = Supervised("files", broken, consume, backoff=Backoff(initial=30))
        task = asyncio.ensure_future(sup.run())
        async with asyncio.timeout(2):
            while sup.status()[0].state is not SourceState.RESTARTING:
                await asyncio.sleep(0)
        st = sup.status()[0]
        assert (st.path, st.restarts, st.error) == ("files", 1, "unknown logencoding 'x'")
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())


def test_consumer_errors_are_not_swallowed(tmp_path):
    log = tmp_path / "x.log"
    log.write_text("line\n")

    async def main() -> None:
        async def consume(batch: LogBatch) -> None:
            raise OSError("the store is full")  # the daemon's own failure, not the source's

        sup = Supervised("files", lambda: FileSource(
            [LogSpec(str(log))], watcher=PollingWatcher(interval=0.01)), consume)
        with pytest.raises(OSError, match="the store is full"):
            await sup.run()
        assert sup.backoff.restarts == 0

    asyncio.run(main())


def test_real_file_source_under_supervision(tmp_path):
    log = tmp_path / "x.log"
    log.write_text("one\n")
    got: list[str] = []

    async def main() -> None:
        done = asyncio.Event()

        async def consume(batch: LogBatch) -> None:
            got.extend(batch.lines)
            if len(got) == 2:
                done.set()

        sup = Supervised("files", lambda: FileSource([LogSpec(str(log))]), consume)
        task = asyncio.ensure_future(sup.run())
        async with asyncio.timeout(5):
            while not got:
                await asyncio.sleep(0.001)
            with open(log, "a") as f:
                f.write("two\n")
            await done.wait()
        assert [s.state for s in sup.status()] == [SourceState.OK]
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert got == ["one", "two"]


def _source_lines(caplog: pytest.LogCaptureFixture) -> list[tuple[str, str]]:
    return [(r.levelname, r.getMessage()) for r in caplog.records if r.name == "warden.sources"]


def test_failures_are_logged_once_per_change(caplog):
    same = SourceError("journalmatch refused")
    plan = iter([Flaky([], same), Flaky([], same), Flaky([], same),
                 Flaky(["a"], OSError(5, "I/O error")), Flaky([], OSError(5, "I/O error")),
                 Flaky(["b"], None)])
    got: list[str] = []

    async def main() -> None:
        async def consume(batch: LogBatch) -> None:
            got.extend(batch.lines)

        sup = Supervised("journal", lambda: next(plan), consume,
                         backoff=Backoff(initial=0.001, maximum=0.001))
        async with asyncio.timeout(5):
            await sup.run()

    caplog.set_level("INFO", logger="warden.sources")
    asyncio.run(main())
    assert got == ["a", "b"]
    assert _source_lines(caplog) == [
        ("WARNING", "journal: journalmatch refused; restarting it (retries with backoff up to "
                    "0.001s)"),
        ("INFO", "journal: reading again after 3 restart(s)"),
        ("WARNING", "journal: [Errno 5] I/O error; restarting it (retries with backoff up to "
                    "0.001s)"),
        ("INFO", "journal: reading again after 5 restart(s)"),
    ]


@pytest.mark.parametrize("blocker", ["directory", "fifo"])
def test_an_unreadable_log_is_logged_once_and_its_recovery_once(tmp_path, caplog, blocker):
    path = tmp_path / "auth.log"
    if blocker == "directory":
        path.mkdir()  # root reads any file: a directory in its place is what fails for root
        reason = "is a directory"
    else:
        os.mkfifo(path)
        reason = "is not a regular file"
    source = FileSource([LogSpec(str(path))], watcher=PollingWatcher(interval=0.01))
    got: list[str] = []
    passes = 0

    async def main() -> None:
        nonlocal passes
        it = source.batches().__aiter__()
        reader = asyncio.ensure_future(anext(it))
        # many polling passes over the unreadable path
        async with asyncio.timeout(5):
            while passes < 30:
                await asyncio.sleep(0.01)
                passes += 1
        assert not reader.done()
        assert source.status()[0].state is SourceState.ERROR
        if blocker == "directory":
            path.rmdir()
        else:
            path.unlink()
        path.write_text("back\n")
        async with asyncio.timeout(5):
            got.extend((await reader).lines)
        source.close()

    caplog.set_level("INFO", logger="warden.sources")
    asyncio.run(main())
    assert got == ["back"]
    assert _source_lines(caplog) == [
        ("WARNING", f"{path}: {reason}; watching for it to become readable"),
        ("INFO", f"{path}: readable again"),
    ]


def test_an_unreadable_log_that_goes_away_says_so(tmp_path, caplog):
    path = tmp_path / "auth.log"
    path.mkdir()
    source = FileSource([LogSpec(str(path))], watcher=PollingWatcher(interval=0.01))
    caplog.set_level("INFO", logger="warden.sources")
    source.read_now(now=0.0)
    source.read_now(now=1.0)
    path.rmdir()
    source.read_now(now=2.0)
    source.read_now(now=3.0)
    source.close()
    assert source.status()[0].state is SourceState.MISSING
    assert _source_lines(caplog) == [
        ("WARNING", f"{path}: is a directory; watching for it to become readable"),
        ("INFO", f"{path}: no longer unreadable, now missing; watching for it to appear"),
    ]
