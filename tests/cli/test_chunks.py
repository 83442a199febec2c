"""Chunked (parallel, speculative) runs of ``warden regex`` equal one sequential run exactly.

Every run below is compared with ``WARDEN_JOBS=1`` on the same crafted log: the per-line JSON,
the summary (counts, hits per regex, date template hits) and the filter's final state. Small
chunks and warm-ups force both outcomes of the check at chunk starts: worker results taken,
and chunks redone in order.
"""

from __future__ import annotations

import io
import os
import pickle
import time
from pathlib import Path

import pytest

from tests.cli.crafted import (
    MULTI_LINE,
    SSHD_FAST,
    SSHD_LIKE,
    START,
    multi_log,
    sshd_log,
    write_filter,
)
from warden.cli import chunks
from warden.cli.chunks import ChunkStats, run_chunked
from warden.cli.main import main
from warden.cli.regex import resolve_filter
from warden.core.batch import Tally, tally
from warden.core.datedetect import DateDetector
from warden.core.filter import Filter
from warden.core.filterdef import FilterDefinition

NOW = START + 1500  # inside the logs' time span: the last-date rule applies to some lines


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    assert main(["regex", *argv, "--now", str(NOW)]) == 0
    out = capsys.readouterr().out
    # The timing line differs from run to run, and tells how the chunks went.
    return "\n".join(ln for ln in out.splitlines() if not ln.startswith("[processed"))


@pytest.fixture
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(chunks, "MIN_PARALLEL_BYTES", 0)


JOBS = (2, 3, 7)
WARMUPS = (0, 3000, 1 << 20)
MODES: tuple[tuple[str, ...], ...] = (("--json",), (), ("--print-missed", "--print-matched"))
TEXTS = {"generic": SSHD_LIKE, "fast": SSHD_FAST}


def _pairwise() -> list[tuple[int, int, tuple[str, ...], str]]:
    """Every pair of values of any two of the four parameters in at least one run (a Latin
    square over jobs x warm-up; 10 runs instead of all 54 combinations)."""
    names = list(TEXTS)
    runs = [(jobs, warmup, MODES[(i + k) % 3], names[(i + k) % 2])
            for i, jobs in enumerate(JOBS) for k, warmup in enumerate(WARMUPS)]
    runs.append((JOBS[0], WARMUPS[1], MODES[2], names[1]))  # the one (mode, text) pair missing
    return runs


def test_the_runs_below_cover_every_pair() -> None:
    runs = _pairwise()
    values = (JOBS, WARMUPS, MODES, tuple(TEXTS))
    for a in range(4):
        for b in range(a + 1, 4):
            want = {(x, y) for x in values[a] for y in values[b]}
            assert {(run[a], run[b]) for run in runs} == want, (a, b)


@pytest.mark.usefixtures("small_chunks")
@pytest.mark.parametrize(("jobs", "warmup", "mode", "name"), _pairwise())
def test_cli_parallel_equals_sequential(  # noqa: PLR0917 - pytest passes them by name
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
        jobs: int, warmup: int, mode: tuple[str, ...], name: str) -> None:
    log = tmp_path / "auth.log"
    log.write_bytes(sshd_log(seed=jobs * 31 + warmup, count=4000))
    flt = write_filter(tmp_path, "sshd-like", TEXTS[name])
    monkeypatch.setenv("WARDEN_JOBS", "1")
    expected = _cli(capsys, str(log), str(flt), *mode)
    monkeypatch.setenv("WARDEN_JOBS", str(jobs))
    monkeypatch.setattr(chunks, "WARMUP_BYTES", warmup)
    assert _cli(capsys, str(log), str(flt), *mode) == expected


def _definition(tmp_path: Path, text: str) -> FilterDefinition:
    return resolve_filter(str(write_filter(tmp_path, "f", text)), tmp_path)


def _fresh(definition: FilterDefinition) -> Filter:
    dates = DateDetector(definition.datepattern, default_tz=definition.logtimezone, now=NOW)
    return Filter(definition, dates=dates)


def _run(definition: FilterDefinition, path: Path, jobs: int, warmup: int | None
         ) -> tuple[tuple[int, ...], list[tuple[str, int]], object, ChunkStats, str]:
    flt = _fresh(definition)
    dates = flt.dates
    assert isinstance(dates, DateDetector)
    sizes = len(flt.failregexes), len(flt.ignoreregexes)

    def count(flt: Filter, lines: object, _first: int, out: object) -> Tally:
        stats = Tally(*sizes, keep_missed=True, keep_matched=True)
        tally(flt, lines, NOW, stats)  # type: ignore[arg-type]
        print(*stats.counts(), file=out)  # type: ignore[call-overload]
        return stats

    def warm_up(flt: Filter, lines: object) -> None:
        tally(flt, lines, NOW, Tally(*sizes))  # type: ignore[arg-type]

    out = io.StringIO()
    results, stats = run_chunked(str(path), flt, count, warm_up, out, jobs=jobs,
                                 min_bytes=0, warmup=warmup)
    total = results[0]
    for more in results[1:]:
        total.add(more)
    summary = (*total.counts(), *total.fail_hits, *total.ignore_hits,
               hash(tuple(total.missed_lines or ())), hash(tuple(total.matched_lines or ())))
    state = pickle.loads(pickle.dumps(flt.decisive_state()))  # a copy, compared with ==
    return summary, dates.hits(), state, stats, out.getvalue()


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("text", [SSHD_LIKE, SSHD_FAST], ids=["generic", "fast"])
def test_both_outcomes_of_the_check_are_exact(tmp_path: Path, seed: int, text: str) -> None:
    definition = _definition(tmp_path, text)
    log = tmp_path / "auth.log"
    log.write_bytes(sshd_log(seed=seed, count=6000))
    base, hits, state, _, _ = _run(definition, log, 1, 0)
    seen = ChunkStats(chunks=0)
    for jobs, warmup in ((2, 0), (4, 500), (5, 1 << 20), (9, 20000)):
        got, got_hits, got_state, stats, printed = _run(definition, log, jobs, warmup)
        assert (got, got_hits, got_state) == (base, hits, state), (jobs, warmup, stats)
        assert len(printed.splitlines()) == stats.chunks  # per-chunk output, once each
        seen.taken += stats.taken
        seen.redone += stats.redone
    assert seen.taken and seen.redone


def test_multi_line_buffer_across_chunks(tmp_path: Path) -> None:
    definition = _definition(tmp_path, MULTI_LINE)
    log = tmp_path / "multi.log"
    log.write_bytes(multi_log(seed=3, count=3000))
    base = _run(definition, log, 1, 0)[:3]
    for jobs, warmup in ((2, 0), (3, 200), (6, 1 << 20)):
        assert _run(definition, log, jobs, warmup)[:3] == base


def test_date_templates_moving_across_chunks(tmp_path: Path) -> None:
    # Alternating stretches of two date formats make the detector move templates; a worker
    # that moved one is never taken (its statistics were not the true ones).
    definition = _definition(tmp_path, SSHD_FAST)
    lines = []
    t = START
    for block in range(40):
        for _ in range(60):
            t += 1
            stamp = (time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t)) if block % 3 == 2
                     else time.strftime("%b %e %H:%M:%S", time.localtime(t)))
            lines.append(f"{stamp} host sshd[1]: Invalid user u from 192.0.2.{block} port 1\n")
    log = tmp_path / "dates.log"
    log.write_text("".join(lines), encoding="utf-8")
    base = _run(definition, log, 1, 0)[:3]
    for jobs in (2, 5, 11):
        assert _run(definition, log, jobs, 4000)[:3] == base


DATES_ONLY = r"""
[Definition]
failregex = ^\S+ sshd\[\d+\]: Failed password for (?:invalid user )?\S+ from <HOST> port \d+
ignoreregex = from 192\.0\.2\.99 port
"""


def test_a_filter_of_dates_alone_warms_up_briefly(tmp_path: Path) -> None:
    # No sessions, no buffer: the filter's state is its dates, and a worker's 256 KiB of
    # warm-up rebuild it (its chunks are taken); one with sessions gets the long warm-up.
    definition = _definition(tmp_path, DATES_ONLY)
    assert not _fresh(definition).matcher.keeps_lines
    assert _fresh(_definition(tmp_path, SSHD_LIKE)).matcher.keeps_lines
    assert _fresh(_definition(tmp_path, MULTI_LINE)).matcher.keeps_lines
    log = tmp_path / "auth.log"
    with log.open("w", encoding="utf-8") as out:
        for i in range(40000):
            t = time.gmtime(START + i // 3)
            head = "" if i % 50 == 7 else time.strftime("%b %e %H:%M:%S ", t)  # some undated
            out.write(f"{head}host sshd[{i % 97}]: Failed password for u{i % 7} from "
                      f"192.0.2.{i % 250} port {i}\n")
    assert log.stat().st_size > 8 * chunks.SHORT_WARMUP_BYTES
    base = _run(definition, log, 1, None)[:3]
    got = _run(definition, log, 4, None)
    assert got[:3] == base
    assert got[3].taken == 3, got[3]


def test_small_files_are_not_split(tmp_path: Path) -> None:
    log = tmp_path / "a.log"
    log.write_text("Jan  1 00:00:00 host sshd[1]: Invalid user u from 192.0.2.1 port 1\n",
                   encoding="utf-8")
    flt = _fresh(_definition(tmp_path, SSHD_LIKE))
    results, stats = run_chunked(str(log), flt, lambda f, lines, n, o: list(lines),
                                 lambda f, lines: None, io.StringIO(), jobs=4)
    assert stats.chunks == 1 and len(results) == 1


def test_failing_worker_is_redone(tmp_path: Path) -> None:
    definition = _definition(tmp_path, SSHD_FAST)
    log = tmp_path / "auth.log"
    log.write_bytes(sshd_log(seed=1, count=2000))
    base = _run(definition, log, 1, 0)[:3]
    flt = _fresh(definition)

    def job(flt: Filter, lines: object, first: int, out: object) -> int:
        if os.getpid() != parent:
            raise RuntimeError("worker fails")
        stats = Tally(len(flt.failregexes), len(flt.ignoreregexes))
        tally(flt, lines, NOW, stats)  # type: ignore[arg-type]
        return stats.lines

    parent = os.getpid()
    results, stats = run_chunked(str(log), flt, job, lambda f, lines: None, io.StringIO(),
                                 jobs=3, min_bytes=0)
    assert stats.redone == 2 and stats.taken == 0
    assert sum(results) == base[0][0]
    assert pickle.loads(pickle.dumps(flt.decisive_state())) == base[2]


def test_jobs_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WARDEN_JOBS", "3")
    assert chunks.default_jobs() == 3
    monkeypatch.setenv("WARDEN_JOBS", "zero")
    assert chunks.default_jobs() >= 1
