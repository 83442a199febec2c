"""A jail that reports lean failures (``Jail.count_only``: no log lines, no fields but a host
name) decides what the same jail with whole failures decides: the same bans, unbans and
questions at the same times; only the bans' ``matches`` and ``fields`` are left empty.

Driven as the daemon and the replay drive jails (``feed_lines`` a block at a time) over the
crafted logs of ``warden regex``'s tests: ``<F-MLFID>`` sessions, ``<F-NOFAIL>`` lines,
undated lines, two date formats, a multi-line filter, early ignoreregexes (the matcher's
buffered path), and host names for ``usedns``."""

from __future__ import annotations

import dataclasses
import io
from pathlib import Path
from types import MappingProxyType

import pytest

import warden
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
from warden.core.decisions import Ban, Decision
from warden.core.filterdef import FilterDefinition
from warden.core.jail import Jail
from warden.core.spec import JailSpec
from warden.sources.logread import iter_lines

OWN = Path(warden.__file__).parent / "data"


def _lines(data: bytes) -> list[str]:
    lines = list(iter_lines(io.BytesIO(data)))
    # a few host names among the addresses (usedns: the jail asks for them to be resolved)
    return [line.replace("from 198.51.100.3 ", "from attacker.example ", 1) if i % 3 == 0
            else line for i, line in enumerate(lines)]


def _play(jail: Jail, lines: list[str], pace: float, block: int = 211) -> list[Decision]:
    out: list[Decision] = []
    for start in range(0, len(lines), block):
        now = START + 30 + pace * (start + block)  # read as the log grows (pace s a line)
        out += [*jail.expire(now), *jail.feed_lines(lines[start:start + block], now)]
        out.append(jail.status(now))  # type: ignore[arg-type]
    return out


def _bare(decision: Decision) -> Decision:
    if isinstance(decision, Ban):
        return dataclasses.replace(decision, matches=(), fields=MappingProxyType({}))
    return decision


def _definition(tmp_path: Path, name: str) -> FilterDefinition:
    if name == "own sshd":
        return resolve_filter("sshd", OWN)
    text = {"sshd-like": SSHD_LIKE, "sshd-fast": SSHD_FAST, "multi-line": MULTI_LINE}[name]
    return resolve_filter(str(write_filter(tmp_path, name, text)), tmp_path)


@pytest.mark.parametrize("name", ["sshd-like", "sshd-fast", "multi-line", "own sshd"])
@pytest.mark.parametrize("usedns", ["yes", "raw", "no"])
def test_lean_failures_decide_as_whole_ones(tmp_path: Path, name: str, usedns: str) -> None:
    definition = _definition(tmp_path, name)
    lines = _lines(multi_log(3, 3000) if name == "multi-line" else sshd_log(5, 3000))
    spec = JailSpec("j", filters=(definition,), maxretry=3, findtime=600.0, bantime=60.0,
                    usedns=usedns, maxmatches=3,
                    trustsuccess=3600.0 if definition.successregex else None)
    whole, lean = Jail(spec), Jail(spec)
    assert lean.count_only()
    pace = 0.5 if name == "multi-line" else 0.75
    want = _play(whole, lines, pace)
    got = _play(lean, lines, pace)
    assert any(isinstance(d, Ban) for d in want)
    assert [_bare(d) for d in got] == [_bare(d) for d in want]
    if name != "multi-line":
        # the whole failures carry their lines and fields; the lean ones only a host name
        bans = [d for d in got if isinstance(d, Ban)]
        assert all(not b.matches and set(b.fields) <= {"dns"} for b in bans)
        assert any(b.matches for b in want if isinstance(b, Ban))
        assert any(set(b.fields) - {"dns"} for b in want if isinstance(b, Ban))


def test_not_with_ignorecommand() -> None:
    jail = Jail(JailSpec("j", ignorecommand=True))
    assert not jail.count_only()
