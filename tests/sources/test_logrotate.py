"""Real logrotate runs (create, copytruncate, delaycompress) while a writer keeps logging."""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path

import pytest

from warden.sources.filetail import FileSource, LogSpec
from warden.sources.polling import PollingWatcher

from .helpers import BACKENDS, collect, until

LOGROTATE = shutil.which("logrotate") or "/usr/sbin/logrotate"
pytestmark = pytest.mark.skipif(not Path(LOGROTATE).exists(),
                                reason="logrotate is not installed (Debian package logrotate)")


async def rotate(tmp: Path, log: Path, options: str) -> None:
    conf = tmp / "rotate.conf"
    conf.write_text(f"{log} {{\n    rotate 5\n    missingok\n{options}}}\n")
    proc = await asyncio.create_subprocess_exec(
        LOGROTATE, "-f", "-s", str(tmp / "state"), str(conf),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate()
    assert proc.returncode == 0, (out + err).decode()


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("options", [
    "    create 0640\n",
    "    create 0640\n    delaycompress\n    compress\n",
])
def test_create_rotations_while_logging(tmp_path, backend, options):
    log = tmp_path / "app.log"
    log.write_text("")
    rounds, per_round = 4, 400
    expected = [f"round {r} line {i}" for r in range(rounds) for i in range(per_round)]

    async def main() -> None:
        watcher = PollingWatcher(interval=0.005) if backend == "polling" else None
        src = FileSource([LogSpec(str(log))], backend=backend, watcher=watcher, grace=1.0)
        it = src.batches()

        async def writer() -> None:
            f = open(log, "a")  # noqa: SIM115 - reopened after each rotation, like a daemon
            try:
                for r in range(rounds):
                    for i in range(per_round):
                        f.write(f"round {r} line {i}\n")
                        f.flush()
                        if i == per_round // 2:
                            # logrotate runs while this writer goes on with its old descriptor
                            task = asyncio.ensure_future(rotate(tmp_path, log, options))
                        if i % 5 == 0:
                            await asyncio.sleep(0)
                    await task
                    f.close()
                    f = open(log, "a")  # noqa: SIM115 - the postrotate "reopen"
                    if r < rounds - 1:
                        # rotations are hours apart in life: let the reader see this one before
                        # the next (a poll interval spanning two rotations loses the middle file)
                        await until(lambda: _ino(src, log) == os.stat(log).st_ino, timeout=10)
            finally:
                f.close()

        async with asyncio.TaskGroup() as tg:
            tg.create_task(writer())
            got = await collect(it, len(expected), timeout=30)
        assert got == expected
        assert (tmp_path / "app.log.1").exists()
        src.close()

    asyncio.run(main())


def _ino(src: FileSource, log: Path) -> int:
    pos = src.positions().get(str(log))
    return -1 if pos is None else pos.ino


@pytest.mark.parametrize("backend", BACKENDS)
def test_copytruncate_rotations_while_logging(tmp_path, backend):
    log = tmp_path / "app.log"
    log.write_text("")
    rounds, per_round = 4, 400
    expected = [f"round {r} line {i}" for r in range(rounds) for i in range(per_round)]

    async def main() -> None:
        watcher = PollingWatcher(interval=0.005) if backend == "polling" else None
        src = FileSource([LogSpec(str(log))], backend=backend, watcher=watcher)
        it = src.batches()
        got: list[str] = []

        async def reader() -> None:
            async with asyncio.timeout(30):
                while len(got) < len(expected):
                    got.extend((await anext(it)).lines)

        async def writer() -> None:
            with open(log, "a") as f:  # O_APPEND: after the truncation it writes at 0
                for r in range(rounds):
                    for i in range(per_round):
                        f.write(f"round {r} line {i}\n")
                        f.flush()
                        if i % 5 == 0:
                            await asyncio.sleep(0)
                    # lines written between logrotate's copy and its truncation, or not read
                    # before it, are lost for every reader; rotate once all has been read (by
                    # count: the rounds have equal sizes, so offsets could match by chance)
                    written = (r + 1) * per_round
                    await until(lambda n=written: len(got) >= n, timeout=10)
                    await rotate(tmp_path, log, "    copytruncate\n")
                    assert os.path.getsize(log) == 0

        async with asyncio.TaskGroup() as tg:
            tg.create_task(reader())
            tg.create_task(writer())
        assert got == expected
        src.close()

    asyncio.run(main())
