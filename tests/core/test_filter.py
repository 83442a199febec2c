"""Filter API behaviour not covered by the tables: errors, limits, state, result values."""

from __future__ import annotations

import dataclasses
import time

import pytest

from warden.core.filter import Failure, Filter, LineResult
from warden.core.filterdef import FilterDefinition
from warden.errors import RegexError

NOW = 1_000_000.0


def make(*failregex: str, **kw: object) -> Filter:
    journal = bool(kw.pop("journal", True))
    definition = FilterDefinition(name="t", failregex=failregex, **kw)  # type: ignore[arg-type]
    return Filter(definition, journal=journal)


def test_failregex_needs_an_id_group() -> None:
    with pytest.raises(RegexError) as err:
        make("^no id here$")
    assert err.value.option == "failregex"


def test_id_group_may_come_from_prefregex() -> None:
    flt = make("^failed$", prefregex=r"^<F-ID>\w+</F-ID>: <F-CONTENT>.+</F-CONTENT>$")
    (failure,) = flt.process("abc: failed", NOW).failures
    assert failure.fid == "abc"


def test_invalid_regexes_are_reported_with_their_option() -> None:
    with pytest.raises(RegexError) as err:
        make("^ok <HOST>$", ignoreregex=("(",))
    assert err.value.option == "ignoreregex"
    with pytest.raises(RegexError) as err:
        make("^ok <HOST>$", prefregex="[")
    assert err.value.option == "prefregex"


def test_bad_maxlines() -> None:
    with pytest.raises(RegexError):
        make("<HOST>", maxlines=0)


def test_default_date_detector_and_shared_dates() -> None:
    flt = make(r"^\s*x <HOST>$", journal=False, datepattern="^%Y-%m-%d %H:%M:%S")
    (failure,) = flt.process("2005-08-14 10:00:00 x 192.0.2.1", 1124013600.0).failures
    assert failure.time is not None
    assert failure.matches == ("2005-08-14 10:00:00 x 192.0.2.1",)
    other = make(r"^\s*x <HOST>$", journal=False, datepattern="^%Y-%m-%d %H:%M:%S")
    line = other.clean("2005-08-14 10:00:00 x 192.0.2.1\r\n")
    assert flt.dates is not None
    found = flt.dates.match(line, 1124013600.0)
    (shared,) = other.process_dated(line, found, 1124013600.0).failures
    assert shared.time == failure.time


def test_line_ends_are_stripped() -> None:
    flt = make("^x <HOST>$")
    for line in ("x 192.0.2.1\n", "x 192.0.2.1\r\n", "x 192.0.2.1\r"):
        (failure,) = flt.process(line, NOW).failures
        assert failure.matches == ("x 192.0.2.1",)


def test_long_lines_are_cut_and_never_stall() -> None:
    flt = Filter(FilterDefinition(name="t", failregex=(r"^(a+)+b <HOST>$", r"x <IP4>")),
                 journal=True, max_line_length=100)
    start = time.perf_counter()
    assert flt.process("a" * 1_000_000, NOW).failures == ()
    assert time.perf_counter() - start < 1.0
    assert flt.process("x 192.0.2.1" + " " * 200, NOW).failures != ()
    assert flt.process(" " * 95 + "x 192.0.2.1", NOW).failures == ()  # cut before the host


def test_results_for_plain_lines_are_shared() -> None:
    flt = make("^x <HOST>$")
    assert flt.process("nothing", NOW) is flt.process("other", NOW)
    assert not flt.process("nothing", NOW).matched


def test_failure_is_immutable() -> None:
    flt = make("^x <F-USER>\\w+</F-USER> <HOST>$")
    result = flt.process("x bob 192.0.2.1", NOW)
    assert isinstance(result, LineResult)
    assert result.matched
    (failure,) = result.failures
    assert isinstance(failure, Failure)
    assert failure.time == NOW
    with pytest.raises(TypeError):
        failure.fields["user"] = "eve"  # type: ignore[index]
    with pytest.raises(AttributeError):
        failure.fid = "x"  # type: ignore[misc]


def test_journal_lines_keep_dates_in_text() -> None:
    flt = make("^Jan  1 00:00:00 x <HOST>$")
    (failure,) = flt.process("Jan  1 00:00:00 x 192.0.2.1", NOW).failures
    assert failure.time == NOW


def test_compiled_regexes_are_exposed() -> None:
    flt = make("^a <HOST>$", "^b <HOST>$", ignoreregex=("c",))
    assert [rx.index for rx in flt.failregexes] == [0, 1]
    assert [rx.option for rx in flt.ignoreregexes] == ["ignoreregex"]
    assert "failregex[1]" in repr(flt.failregexes[1])


SESSION = dict(
    prefregex=r"^s\[<F-MLFID>\d+</F-MLFID>\]: <F-CONTENT>.+</F-CONTENT>$",
)


def test_sessions_expire_after_five_minutes() -> None:
    flt = make("^<F-NOFAIL>try</F-NOFAIL> <F-USER>\\w+</F-USER>$", "^from <HOST>$", **SESSION)
    flt.process("s[1]: try bob", NOW)
    (failure,) = flt.process("s[1]: from 192.0.2.1", NOW + 10).failures
    assert len(failure.matches) == 2
    flt.process("s[2]: try bob", NOW)
    (failure,) = flt.process("s[2]: from 192.0.2.1", NOW + 301).failures
    assert len(failure.matches) == 1  # the session was forgotten


def test_at_most_a_hundred_sessions() -> None:
    flt = make("^<F-NOFAIL>try</F-NOFAIL> <F-USER>\\w+</F-USER>$", "^from <HOST>$", **SESSION)
    for n in range(150):
        flt.process(f"s[{n}]: try u{n}", NOW)
    (old,) = flt.process("s[0]: from 192.0.2.1", NOW).failures
    (new,) = flt.process("s[149]: from 192.0.2.1", NOW).failures
    assert "users" not in old.fields
    assert new.fields["users"] == ("u149",)


def test_definition_is_kept() -> None:
    definition = FilterDefinition(name="keep", failregex=("<HOST>",))
    flt = Filter(definition, journal=True)
    assert flt.definition is definition
    assert dataclasses.replace(definition, name="x").name == "x"
