"""A big log is scanned in parallel for ``warden replay``: the bans are those of one
sequential scan, whether the workers' chunks are taken or scanned again.

The replay runs in this process (``warden.daemon.replay.replay``) on a generated auth log
with warden's own tree; the size threshold and the warm-up are made small so that a 2 MB log
is cut into three chunks whose workers start in the middle of the file.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from warden.daemon import replaychunks
from warden.daemon.replay import ReplayRun, replay

GENLOG = Path("/work/shared/bench/genlog.py")

pytestmark = pytest.mark.skipif(not GENLOG.exists(), reason="needs the shared log generator")


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("parallel")
    log = root / "auth.log"
    subprocess.run([sys.executable, str(GENLOG), "-n", "20000", "-o", str(log), "--seed", "7",
                    "auth"], check=True, stderr=subprocess.DEVNULL)
    conf = root / "conf"
    subprocess.run([sys.executable, "-m", "warden", "init", "-c", str(conf)], check=True,
                   stdout=subprocess.DEVNULL)
    (conf / "jail.local").write_text(
        f"[DEFAULT]\nbackend = polling\n[sshd]\nenabled = true\nlogpath = {log}\n"
        "maxretry = 3\nbantime = 10m\nbantime.increment = true\n")
    return conf, log


def _run(conf: Path, log: Path, monkeypatch: pytest.MonkeyPatch, jobs: int,
         warmup: int) -> ReplayRun:
    monkeypatch.setenv("WARDEN_JOBS", str(jobs))
    monkeypatch.setattr(replaychunks, "MIN_PARALLEL_BYTES", 0)
    monkeypatch.setattr(replaychunks, "_WARMUP", warmup)
    return replay(conf, [str(log)])


@pytest.mark.parametrize("warmup", [1 << 20, 0])
def test_parallel_scan_gives_the_sequential_bans(setup: tuple[Path, Path],
                                                 monkeypatch: pytest.MonkeyPatch,
                                                 warmup: int) -> None:
    conf, log = setup
    one = _run(conf, log, monkeypatch, 1, warmup)
    assert one.split.chunks == 0
    assert one.bans and one.totals["sshd"].failures > 1000
    three = _run(conf, log, monkeypatch, 3, warmup)
    assert three.split.chunks == 3
    assert three.split.taken + three.split.redone == 2
    if warmup:
        assert three.split.taken == 2  # warmed up: the workers' states were the true ones
    else:
        assert three.split.redone >= 1  # cold workers: checked, refused, scanned again
    assert three.bans == one.bans
    assert three.lines == one.lines == 20000
    assert {k: (t.failures, t.bans, t.prolonged, t.unbans) for k, t in three.totals.items()} \
        == {k: (t.failures, t.bans, t.prolonged, t.unbans) for k, t in one.totals.items()}


def test_a_worker_stopped_by_a_moved_date_template_is_taken_until_there(
        setup: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A run of lines in another date format (the same times, ISO) three quarters into the
    # log: the last worker's detector moves a template there, so it stops, and the rest of
    # its chunk is scanned here from the states after its last block sent.
    conf, log = setup
    lines = log.read_text().splitlines(keepends=True)
    at = len(lines) * 3 // 4
    for i in range(at, at + 30):
        stamp = time.strptime("2026 " + lines[i][:15], "%Y %b %d %H:%M:%S")
        lines[i] = time.strftime("%Y-%m-%d %H:%M:%S", stamp) + lines[i][15:]
    mixed = tmp_path / "mixed.log"
    mixed.write_text("".join(lines))
    monkeypatch.setattr(replaychunks, "MIN_PARALLEL_BYTES", 0)
    monkeypatch.setattr(replaychunks, "_BLOCK", 1 << 16)  # many blocks in each chunk
    monkeypatch.setattr(replaychunks, "_WARMUP", 1 << 22)  # from the start: never refused
    runs = []
    for jobs in (1, 3):
        monkeypatch.setenv("WARDEN_JOBS", str(jobs))
        runs.append(replay(conf, [str(mixed)], jails=["sshd"]))
    one, three = runs
    assert three.split.chunks == 3 and three.split.partial == 1
    assert three.split.taken == 1 and three.split.redone == 1
    assert three.bans == one.bans and len(one.bans) > 10
    assert {k: (t.failures, t.bans, t.prolonged, t.unbans) for k, t in three.totals.items()} \
        == {k: (t.failures, t.bans, t.prolonged, t.unbans) for k, t in one.totals.items()}


def test_workers_that_die_partway_are_taken_until_there(
        setup: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    # Each worker exits after sending its states and two blocks (as if killed): those are
    # taken, the rest of its chunk is scanned here; the bans are the sequential ones.
    conf, log = setup
    monkeypatch.setattr(replaychunks, "MIN_PARALLEL_BYTES", 0)
    monkeypatch.setattr(replaychunks, "_BLOCK", 1 << 16)
    monkeypatch.setattr(replaychunks, "_WARMUP", 1 << 22)
    real = replaychunks._Channel.send
    sent = [0]  # (in each worker, its own count: the worker is a fork)

    def send(channel: replaychunks._Channel, record: object) -> None:
        sent[0] += 1
        if sent[0] > 3:
            os._exit(0)
        real(channel, record)

    monkeypatch.setattr(replaychunks._Channel, "send", send)
    runs = []
    for jobs in (1, 3):
        monkeypatch.setenv("WARDEN_JOBS", str(jobs))
        runs.append(replay(conf, [str(log)]))
    one, three = runs
    assert three.split.chunks == 3 and three.split.partial == 2 and three.split.redone == 2
    assert three.bans == one.bans and len(one.bans) > 10
    assert {k: (t.failures, t.bans, t.prolonged, t.unbans) for k, t in three.totals.items()} \
        == {k: (t.failures, t.bans, t.prolonged, t.unbans) for k, t in one.totals.items()}
