"""warden's own filter library (src/warden/data/filter.d), driven by one data file per filter.

Each ``tests/filters/NAME.txt`` is a script of log lines fed, in order, to one filter instance
built with warden's real loader and engine (``load_filter`` + ``Filter``)::

    @filter sshd[mode=aggressive]   start a fresh instance of this filter (name + parameters)
    @journal                        the following lines are journal messages (no date)
    + 192.0.2.1 user=root | LINE    LINE must give a failure for 192.0.2.1 (and these fields)
    - | LINE                        LINE must not give a failure
    !+ 192.0.2.1 | LINE             injection attempt: LINE holds a forged address; the failure
                                    must name 192.0.2.1, the address the service wrote
    !- | LINE                       injection attempt that must not give a failure at all
    @corpus-diff ID -- REASON       a case of fail2ban's corpus on which warden's filter
                                    deliberately disagrees (checked by test_corpus_score.py)

Every filter of the library has a data file with at least one injection line, and every regex
of every mode used here passes the backtracking linter.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from warden.config import load_filter
from warden.core.failregex import compile_regex
from warden.core.filter import Failure, Filter
from warden.core.regexlint import lint_regex

HERE = Path(__file__).resolve().parent
DATA = HERE.parents[1] / "src" / "warden" / "data"
NOW = 1795860000.0  # 2026-11-28 08:00 UTC: dates without a year are completed relative to it

# filter.d files that only hold shared definitions
HELPERS = {
    "common", "apache-common", "exim-common", "nginx-common", "sendmail-common",
    "botsearch-common",
}

_ENTRY = re.compile(
    r"^(?P<kind>!?[+-])(?: (?P<host>\S+)(?P<fields>(?: [\w-]+=\S*)*))? \| (?P<line>.*)$"
)


@dataclass
class Case:
    """One checked log line."""

    source: str  # file:line
    line: str
    match: bool
    host: str | None = None
    fields: dict[str, str] = field(default_factory=dict)
    injection: bool = False


@dataclass
class Block:
    """Lines fed to one filter instance."""

    spec: str
    journal: bool
    cases: list[Case] = field(default_factory=list)


@dataclass
class Script:
    """One data file."""

    name: str
    blocks: list[Block]
    corpus_diffs: dict[str, str]


def parse_script(path: Path) -> Script:
    """Read one data file (format in the module docstring)."""
    blocks: list[Block] = []
    diffs: dict[str, str] = {}
    spec, journal = path.stem, False
    current: Block | None = None
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        where = f"{path.name}:{number}"
        if not raw.strip() or raw.startswith("#"):
            continue
        if raw.startswith("@filter "):
            spec, journal, current = raw.split(None, 1)[1].strip(), False, None
            continue
        if raw.strip() == "@journal":
            journal, current = True, None
            continue
        if raw.startswith("@corpus-diff "):
            ident, _, reason = raw.split(None, 1)[1].partition(" -- ")
            assert reason.strip(), f"{where}: a corpus difference needs a reason"
            diffs[ident.strip()] = reason.strip()
            continue
        found = _ENTRY.match(raw)
        assert found, f"{where}: not a test line: {raw!r}"
        kind = found["kind"]
        match = kind.endswith("+")
        fields = dict(f.split("=", 1) for f in (found["fields"] or "").split())
        assert match == (found["host"] is not None), f"{where}: '+' lines (only) name a host"
        if current is None:
            current = Block(spec, journal)
            blocks.append(current)
        current.cases.append(
            Case(where, found["line"], match, found["host"], fields, kind.startswith("!"))
        )
    return Script(path.stem, blocks, diffs)


SCRIPTS = sorted(HERE.glob("*.txt"))


def _filter(spec: str, journal: bool) -> Filter:
    definition = load_filter(DATA, spec, backend="systemd" if journal else "auto")
    return Filter(definition, journal=journal)


def library_filters() -> list[str]:
    """The filters of warden's library (not the shared helper files)."""
    names = {p.stem for p in (DATA / "filter.d").glob("*.conf")}
    return sorted(names - HELPERS)


def case_problems(case: Case, got: Failure | None, label: str, what: str = "failure"
                  ) -> list[str]:
    """What is wrong with ``got`` (the first failure, or success, a line gave) for ``case``."""
    if not case.match:
        return [] if got is None else [f"{label}: expected no {what}, got {got.fid}"]
    if got is None:
        return [f"{label}: expected a {what} for {case.host}, got none"]
    problems = [] if got.fid == case.host else [f"{label}: expected {case.host}, got {got.fid}"]
    for key, want in case.fields.items():
        value = got.fields.get(key)
        if (value if value is not None else "") != want:
            problems.append(f"{label}: {key}: expected {want!r}, got {value!r}")
    return problems


@pytest.mark.parametrize("path", SCRIPTS, ids=[p.stem for p in SCRIPTS])
def test_filter_script(path: Path) -> None:
    script = parse_script(path)
    failures = []
    for block in script.blocks:
        flt = _filter(block.spec, block.journal)
        for case in block.cases:
            result = flt.process(case.line, NOW)
            got = result.failures[0] if result.failures else None
            failures += case_problems(case, got, f"{case.source} [{block.spec}]")
    assert not failures, "\n".join(failures)


def test_every_filter_has_a_script_with_injection_lines() -> None:
    have = {p.stem for p in SCRIPTS}
    assert set(library_filters()) <= have, set(library_filters()) - have
    for path in SCRIPTS:
        script = parse_script(path)
        cases = [c for b in script.blocks for c in b.cases]
        assert any(c.injection for c in cases), f"{path.name}: no injection line"
        assert any(c.match for c in cases) and any(not c.match for c in cases), path.name


def _specs() -> list[str]:
    """Every filter spec the scripts use, plus every mode a filter file defines."""
    specs = set()
    for path in SCRIPTS:
        specs |= {b.spec for b in parse_script(path).blocks}
    for name in library_filters():
        text = (DATA / "filter.d" / f"{name}.conf").read_text(encoding="utf-8")
        specs.add(name)
        specs |= {f"{name}[mode={m}]" for m in re.findall(r"^_mode_(\w+)\s*=", text, re.M)}
    return sorted(specs)


@pytest.mark.parametrize("spec", _specs())
def test_filter_regexes_pass_the_linter(spec: str) -> None:
    definition = load_filter(DATA, spec, backend="auto")
    regexes = [("failregex", r) for r in definition.failregex]
    regexes += [("ignoreregex", r) for r in definition.ignoreregex]
    if definition.prefregex:
        regexes.append(("prefregex", definition.prefregex))
    assert definition.failregex, f"{spec}: no failregex"
    problems = []
    for index, (option, regex) in enumerate(regexes):
        expanded = compile_regex(regex, option=option, index=index).expanded
        problems += [f"{option}: {p}" for p in lint_regex(expanded)]
    assert not problems, f"{spec}: " + "\n".join(problems)
