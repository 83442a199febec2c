"""``dbmaxmatches`` of warden.conf / fail2ban.conf: its default, what it accepts and refuses."""

from __future__ import annotations

import pytest

from warden.config.confset import Value
from warden.config.validate import DEFAULT_DBMAXMATCHES, dbmaxmatches, settings_problems
from warden.core.filterdef import Origin
from warden.daemon.settings import read_settings
from warden.errors import ConfigError


def _value(text: str) -> Value:
    return Value(text, Origin("/etc/warden/warden.conf", 7))


def test_fail2bans_default_when_unset() -> None:
    assert DEFAULT_DBMAXMATCHES == 10
    assert read_settings({}, foreground=True).dbmaxmatches == 10
    assert dbmaxmatches(_value("  ")) == 10


@pytest.mark.parametrize(("text", "expected"), [("0", 0), ("3", 3), (" 1000 ", 1000)])
def test_accepted(text: str, expected: int) -> None:
    assert read_settings({"dbmaxmatches": _value(text)}, foreground=True).dbmaxmatches == \
        expected
    assert settings_problems({"dbmaxmatches": _value(text)}) == []


@pytest.mark.parametrize("text", ["-1", "ten", "2.5", "1001"])
def test_refused_with_file_and_line(text: str) -> None:
    (problem,) = settings_problems({"dbmaxmatches": _value(text)})
    assert str(problem).startswith("/etc/warden/warden.conf:7: dbmaxmatches = ")
    assert "whole number from 0 to 1000" in str(problem)
    with pytest.raises(ConfigError, match="dbmaxmatches"):
        read_settings({"dbmaxmatches": _value(text)}, foreground=True)
