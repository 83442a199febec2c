"""The ``successregex`` lines of warden's own filters (issue 14), one data file per filter.

``tests/filters/success/NAME.txt`` has the format of the failure scripts (see
``test_filters.py``): ``+ ADDR user=NAME | LINE`` must be a successful login of ADDR, ``- |``
and ``!- |`` lines must not be one. Every line is also fed to the filter's failregexes: a
successful login is never a failure.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.filters.test_filters import DATA, NOW, case_problems, parse_script
from warden.config import load_filter
from warden.core.filter import Filter
from warden.core.trust import success_definition

HERE = Path(__file__).resolve().parent / "success"
SCRIPTS = sorted(HERE.glob("*.txt"))
#: warden's filters with success lines, and fail2ban's stock ones have none
WITH_SUCCESS = ("dovecot", "postfix", "sendmail-auth", "sshd")


@pytest.mark.parametrize("path", SCRIPTS, ids=[p.stem for p in SCRIPTS])
def test_success_script(path: Path) -> None:
    script = parse_script(path)
    problems = []
    for block in script.blocks:
        definition = load_filter(DATA, block.spec, backend="auto")
        assert definition.successregex, f"{block.spec} has no successregex"
        success = Filter(success_definition(definition))
        failures = Filter(definition)
        for case in block.cases:
            got = success.process(case.line, NOW).failures
            if failures.process(case.line, NOW).failures and case.match:
                problems.append(f"{case.source}: a success line is a failure too")
            problems += case_problems(case, got[0] if got else None, case.source, "success")
    assert not problems, "\n".join(problems)


def test_every_filter_with_success_lines_has_a_script() -> None:
    assert sorted(p.stem for p in SCRIPTS) == sorted(WITH_SUCCESS)
    for name in WITH_SUCCESS:
        assert load_filter(DATA, name).successregex


@pytest.mark.skipif(not Path("/etc/fail2ban/filter.d/sshd.conf").exists(),
                    reason="needs fail2ban's stock filters")
@pytest.mark.parametrize("name", WITH_SUCCESS)
def test_stock_filters_have_none(name: str) -> None:
    assert load_filter("/etc/fail2ban", name).successregex == ()
