"""``core.batch.Scanner`` finds exactly the failures ``Filter.process`` finds line by line, with
the same effect on the filter's state, and ``Jail.feed_lines`` decides what ``Jail.feed``
decides (the daemon hands whole read blocks to the jails). Both drive the one
``Matcher.step``: these tests check the driver (block dates, line ends, indices)."""

from __future__ import annotations

import io
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
from warden.cli.regex import resolve_filter
from warden.core.batch import Scanner
from warden.core.datedetect import DateDetector
from warden.core.decisions import Decision
from warden.core.filter import Failure, Filter
from warden.core.filterdef import FilterDefinition
from warden.core.jail import Jail
from warden.core.spec import JailSpec
from warden.sources.logread import iter_lines

NOW = START + 1500


def _lines(data: bytes) -> list[str]:
    return list(iter_lines(io.BytesIO(data)))


def _pair(definition: FilterDefinition, now: float, **kw: object) -> tuple[Filter, Filter]:
    def fresh() -> Filter:
        dates = DateDetector(definition.datepattern, default_tz=definition.logtimezone, now=now)
        return Filter(definition, dates=dates, **kw)  # type: ignore[arg-type]
    return fresh(), fresh()


def _same(definition: FilterDefinition, lines: list[str], now: float, block: int = 97,
          **kw: object) -> int:
    one, other = _pair(definition, now, **kw)
    want: list[tuple[int, Failure]] = []
    for i, line in enumerate(lines):
        want += [(i, f) for f in one.process(line, now).failures]
    scanner = Scanner(other)
    got: list[tuple[int, Failure]] = []
    for start in range(0, len(lines), block):
        got += [(start + i, f) for i, f in scanner.scan(lines[start:start + block], now)]
    assert got == want
    assert other.decisive_state() == one.decisive_state()
    return len(want)


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("now", [NOW, NOW + 10 * 86400])
@pytest.mark.parametrize("text", [SSHD_LIKE, SSHD_FAST], ids=["generic", "fast"])
def test_scan_equals_process(tmp_path: Path, seed: int, now: float, text: str) -> None:
    definition = resolve_filter(str(write_filter(tmp_path, "s", text)), tmp_path)
    lines = _lines(sshd_log(seed, 3000))
    # line ends left on, an undated line, a blank one
    lines[5:5] = [lines[4] + "\r\n", "no date here from 192.0.2.7", ""]
    found = _same(definition, lines, now)
    if now == NOW:
        assert found > 100  # the log really has failures in the window
    _same(definition, lines, now, max_line_length=60)
    _same(definition, lines, now, block=1)


def test_stock_sshd_filter_with_sessions(tmp_path: Path) -> None:
    definition = resolve_filter("sshd", Path("/etc/fail2ban"))
    stamp = "Jan  1 00:10:00"
    lines = []
    for i in range(400):
        addr = f"2001:db8:bad::{i % 37:x}" if i % 3 else f"203.0.113.{i % 11}"
        lines.append(f"{stamp} web01 sshd[{6000 + i % 50}]: Failed password for root from "
                     f"{addr} port {1000 + i} ssh2")
        if i % 7 == 0:
            lines.append(f"{stamp} web01 sshd[{6000 + i % 50}]: Connection closed by {addr} "
                         f"port {1000 + i} [preauth]")
    assert _same(definition, lines, NOW) > 300


def test_generic_filters_go_line_by_line(tmp_path: Path) -> None:
    multi = resolve_filter(str(write_filter(tmp_path, "m", MULTI_LINE)), tmp_path)
    assert _same(multi, _lines(multi_log(1, 2000)), NOW) > 10
    journal = FilterDefinition(name="j", failregex=("^x <HOST>$",))
    flt = Filter(journal, journal=True)
    assert [(i, f.fid, f.time) for i, f in Scanner(flt).scan(["x 192.0.2.1", "y", "x ::1"],
                                                                  NOW)] == [
        (0, "192.0.2.1", NOW), (2, "::1", NOW)]


def _show(decisions: list[Decision]) -> list[str]:
    return [repr(d) for d in decisions]


@pytest.mark.parametrize("filters", [1, 2])
def test_feed_lines_equals_feed(tmp_path: Path, filters: int) -> None:
    definition = resolve_filter(str(write_filter(tmp_path, "s", SSHD_FAST)), tmp_path)
    spec = JailSpec("t", filters=(definition,) * filters, maxretry=3, findtime=3600.0,
                    bantime=600.0)
    lines = _lines(sshd_log(2, 4000))
    one, other = Jail(spec), Jail(spec)
    want: list[Decision] = []
    for line in lines:
        want += one.feed(line, NOW)
    got: list[Decision] = []
    for start in range(0, len(lines), 256):
        got += other.feed_lines(lines[start:start + 256], NOW)
    assert _show(got) == _show(want)
    assert len(want) > 5
    assert other.status(NOW) == one.status(NOW)
