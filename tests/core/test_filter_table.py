"""The filter tables in ``data/filter_cases.txt``, run line by line through one Filter each."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from warden.core.datedetect import DateMatch
from warden.core.filter import Filter, LineResult
from warden.core.filterdef import FilterDefinition

DATA = Path(__file__).parent / "data" / "filter_cases.txt"
NOW = 1_000_000.0


def fake_date(start: int, end: int, time: float | None) -> DateMatch:
    return DateMatch(start, end, time, "fake")


class FakeDates:
    """``@EPOCH`` / ``@bad`` at the start of a line is its date; ``~`` an empty optional date."""

    def match(self, line: str, now: float) -> DateMatch | None:
        if line.startswith("~"):
            return fake_date(0, 0, None)
        if not line.startswith("@"):
            return None
        end = line.find(" ")
        end = len(line) if end < 0 else end
        text = line[1:end]
        return fake_date(0, end, float(text) if text.isdigit() else None)


@dataclass
class Block:
    name: str
    options: dict[str, list[str]] = field(default_factory=dict)
    steps: list[tuple[str, Any, int]] = field(default_factory=list)

    def make(self) -> Filter:
        o = self.options
        definition = FilterDefinition(
            name=self.name,
            failregex=tuple(o.get("failregex", ())),
            ignoreregex=tuple(o.get("ignoreregex", ())),
            prefregex=o.get("prefregex", [None])[0],
            maxlines=int(o.get("maxlines", ["1"])[0]),
        )
        if o.get("dates") == ["fake"]:
            return Filter(definition, dates=FakeDates())
        return Filter(definition, journal=True)


def _unescape(line: str) -> str:
    if "\\" not in line:
        return line
    return line.encode("ascii", "backslashreplace").decode("unicode_escape")


def load_blocks(path: Path = DATA) -> list[Block]:
    blocks: list[Block] = []
    pending: str | None = None
    for n, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not raw.strip() or raw.startswith("#"):
            continue
        if raw.startswith("== "):
            blocks.append(Block(raw[3:].strip()))
        elif raw.startswith("> "):
            pending = _unescape(raw[2:])
        elif raw.startswith("= "):
            assert pending is not None, f"line {n}: expectation without a log line"
            blocks[-1].steps.append((pending, json.loads(raw[2:]), n))
            pending = None
        else:
            key, _, value = raw.partition(": ")
            blocks[-1].options.setdefault(key.strip(), []).append(value)
    return blocks


def check(result: LineResult, expect: Any) -> list[str]:
    """Differences between a line's result and its expectation (empty = as expected)."""
    if expect is None:
        return [] if not result.failures else [f"unexpected failure {result.failures[0]}"]
    if "ignored" in expect:
        return [] if result.ignoreregex == expect["ignored"] and not result.failures else [
            f"expected ignoreregex {expect['ignored']}, got {result}"]
    if "matched" in expect:
        ok = result.failregex == expect["matched"] and not result.failures
        return [] if ok else [f"expected failregex {expect['matched']} without failure: {result}"]
    if len(result.failures) != 1:
        return [f"expected one failure, got {result}"]
    f = result.failures[0]
    diffs = []
    for key, want in expect.items():
        if key == "fid":
            got: Any = f.fid
        elif key == "time":
            got = f.time
        elif key == "matches":
            got = len(f.matches)
        elif key == "regex":
            got = f.regex
        else:
            got = f.fields.get(key)
            if isinstance(got, tuple) and isinstance(want, list):
                got = list(got)
        if got != want:
            diffs.append(f"{key}: got {got!r}, want {want!r}")
    return diffs


BLOCKS = load_blocks()


@pytest.mark.parametrize("block", BLOCKS, ids=[b.name for b in BLOCKS])
def test_filter_table(block: Block) -> None:
    flt = block.make()
    problems = []
    for line, expect, n in block.steps:
        diffs = check(flt.process(line, NOW), expect)
        if diffs:
            problems.append(f"{DATA.name}:{n}: {line!r}: " + "; ".join(diffs))
    assert not problems, "\n".join(problems)
