"""A big log is scanned in parallel for ``warden replay``: the bans are those of one
sequential scan, whether the workers' chunks are taken or scanned again.

The replay runs in this process (``warden.daemon.replay.replay``) on a generated auth log
with warden's own tree; the size threshold and the warm-up are made small so that a 2 MB log
is cut into three chunks whose workers start in the middle of the file.
"""

from __future__ import annotations

import subprocess
import sys
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
