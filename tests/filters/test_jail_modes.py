"""The data files test each jail's filter in the mode the jail uses by default (issue 15).

jail.conf chooses a filter's mode (``filter = %(__name__)s[mode=%(mode)s]`` with ``mode =
normal``, ``postfix`` with ``mode = more``, ``postfix-sasl`` with ``postfix[mode=auth]``, ...);
the data files name a filter and its parameters themselves (``@filter sshd``). This checks
that the two meet: for every jail of a fresh ``warden init`` tree (all jails enabled), the
filter the jail really gets is the filter of at least one block of the data files, so the
lines that block checks are the lines that jail counts or leaves alone.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from tests.filters.test_filters import DATA, SCRIPTS, parse_script
from warden.cli.init import HostFacts, run_init
from warden.config import load_filter, load_jails
from warden.core.filterdef import FilterDefinition

LINUX_FILES = HostFacts(system="Linux", auth_log=True, journald=True)
LINUX_JOURNAL = HostFacts(system="Linux", auth_log=False, journald=True)  # no auth.log


def _shape(definition: FilterDefinition) -> tuple[object, ...]:
    """What decides which lines a filter counts (not its name or where options came from)."""
    return (definition.failregex, definition.ignoreregex, definition.prefregex,
            definition.datepattern, definition.maxlines)


def _tested_shapes() -> set[tuple[object, ...]]:
    shapes = set()
    for path in SCRIPTS:
        for block in parse_script(path).blocks:
            backend = "systemd" if block.journal else "auto"
            shapes.add(_shape(load_filter(DATA, block.spec, backend=backend)))
    return shapes


@pytest.mark.parametrize("facts", [LINUX_FILES, LINUX_JOURNAL], ids=["auth.log", "journal"])
def test_every_jail_filter_is_tested_in_its_default_mode(tmp_path: Path, facts: HostFacts
                                                         ) -> None:
    assert run_init(tmp_path, io.StringIO(), io.StringIO(), facts=facts) == 0
    (tmp_path / "jail.local").write_text("[DEFAULT]\nenabled = true\n")
    jails = load_jails(tmp_path)
    assert not jails.errors, jails.errors
    tested = _tested_shapes()
    untested = []
    for jail in jails.jails:
        assert jail.filter is not None, jail.name
        if _shape(jail.filter) not in tested:
            untested.append(f"{jail.name} (backend {jail.backend})")
    assert len(jails.jails) >= 90
    assert not untested, "jails whose default filter no data file block runs: " + ", ".join(
        untested)
