"""The kernel bindings on their own: inotify (real, Linux), kqueue (import and clear refusal)."""

from __future__ import annotations

import asyncio
import os
import sys

import pytest

from warden.errors import SourceError
from warden.sources import inotify, kqueue
from warden.sources.inotify import Inotify, InotifyWatcher
from warden.sources.polling import PollingWatcher

linux = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="inotify is Linux-only")


@linux
def test_raw_inotify_events(tmp_path):
    ino = Inotify()
    try:
        wd = ino.add_watch(str(tmp_path), inotify.IN_CREATE | inotify.IN_MODIFY)
        assert ino.read() == []
        (tmp_path / "a").write_text("x")
        events = ino.read()
        assert (wd, inotify.IN_CREATE, "a") in events
        assert any(m & inotify.IN_MODIFY and n == "a" for _, m, n in events)
        ino.rm_watch(wd)
        (tmp_path / "b").write_text("x")
        assert all(n != "b" for _, _, n in ino.read())
        with pytest.raises(FileNotFoundError):
            ino.add_watch(str(tmp_path / "missing"), inotify.IN_CREATE)
    finally:
        ino.close()
        ino.close()  # twice is fine


@linux
def test_many_events_in_one_read(tmp_path):
    ino = Inotify()
    try:
        ino.add_watch(str(tmp_path), inotify.IN_CREATE)
        names = {f"file-with-a-long-name-{i:05d}" for i in range(3000)}
        for name in names:
            (tmp_path / name).touch()
        events = ino.read()
        got = {n for _, _, n in events}
        # the queue may overflow on a slow machine: then it says so
        assert got == names or any(m & inotify.IN_Q_OVERFLOW for _, m, _ in events)
    finally:
        ino.close()


@linux
def test_watcher_reports_writes_and_entries(tmp_path):
    async def main() -> None:
        w = InotifyWatcher()
        try:
            assert w.watch_dir(str(tmp_path))
            assert not w.watch_dir(str(tmp_path / "missing"))
            assert w.watched() == {str(tmp_path)}
            (tmp_path / "log").write_text("x")
            ev = await w.wait(2)
            assert str(tmp_path / "log") in ev.modified and str(tmp_path) in ev.entries
            with open(tmp_path / "log", "a") as f:
                f.write("more")
            ev = await w.wait(2)
            assert ev.modified == {str(tmp_path / "log")} and not ev.entries
            ev = await w.wait(0.01)  # nothing happened: the timeout says "check everything"
            assert ev.everything
            assert not w.pending()  # nothing queued: pending() does not wait nor guess
            (tmp_path / "log2").write_text("y")
            assert str(tmp_path / "log2") in w.pending().modified
            w.unwatch_dir(str(tmp_path))
            w.unwatch_dir(str(tmp_path))
            assert w.watched() == set()
        finally:
            w.close()

    asyncio.run(main())


@linux
def test_watched_directory_removed_is_forgotten(tmp_path):
    d = tmp_path / "d"
    d.mkdir()

    async def main() -> None:
        w = InotifyWatcher()
        try:
            assert w.watch_dir(str(d))
            d.rmdir()
            ev = await w.wait(2)
            assert ev.everything
            await w.wait(0.01)
            assert w.watched() == set()
            d.mkdir()
            assert w.watch_dir(str(d))  # a directory of that name is watched anew
        finally:
            w.close()

    asyncio.run(main())


def test_polling_watcher_wakes_on_its_interval():
    async def main() -> None:
        w = PollingWatcher(interval=0.01)
        loop = asyncio.get_running_loop()
        t = loop.time()
        assert (await w.wait(None)).everything
        assert loop.time() - t >= 0.009
        assert w.watch_dir("/nonexistent")
        assert not w.pending()
        w.close()

    asyncio.run(main())
    with pytest.raises(ValueError, match="positive"):
        PollingWatcher(interval=0)


@pytest.mark.skipif(kqueue.available(), reason="this system has kqueue")
def test_kqueue_is_refused_clearly_where_missing():
    with pytest.raises(SourceError, match="kqueue is not available on this system"):
        kqueue.KqueueWatcher()


@pytest.mark.skipif(not kqueue.available(), reason="needs kqueue (FreeBSD, macOS)")
def test_kqueue_watcher_reports_writes(tmp_path):  # pragma: no cover - BSD only
    async def main() -> None:
        w = kqueue.KqueueWatcher()
        try:
            log = tmp_path / "log"
            log.write_text("")
            fd = os.open(log, os.O_RDONLY)
            assert w.watch_dir(str(tmp_path))
            w.watch_file(str(log), fd)
            with open(log, "a") as f:
                f.write("x\n")
            ev = await w.wait(2)
            assert str(log) in ev.modified
            w.unwatch_file(fd)
            os.close(fd)
        finally:
            w.close()

    asyncio.run(main())
