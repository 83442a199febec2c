"""load_filter on small trees: [Init] parameters, nested tags, includes, errors with file:line."""

from __future__ import annotations

import pathlib

import pytest

from warden.config import load_filter
from warden.core.filterdef import Origin
from warden.errors import ConfigError

COMMON = """\
[DEFAULT]
logtype = file
__prefix_line = <lt_<logtype>/__prefix_line>
datepattern = <lt_<logtype>/datepattern>
[lt_file]
__prefix_line = FILE:
datepattern = {^LN-BEG}
[lt_journal]
__prefix_line = JOURNAL:
datepattern = %(lt_file/datepattern)s
"""

DEMO = """\
[INCLUDES]
before = common.conf

[DEFAULT]
_daemon = demo

[Definition]
mode = normal
prefregex = ^%(__prefix_line)s<F-CONTENT>.+</F-CONTENT>$
mdre-normal = ^Failed for <F-USER>\\S+</F-USER> from <HOST>$
mdre-aggressive = <mdre-normal>
                  ^Bad thing from <HOST>$
failregex = <mdre-<mode>>
            ^Always from <HOST> via <_daemon>$

ignoreregex = ^ignore <user>$
maxlines = 2
journalmatch = _SYSTEMD_UNIT=demo.service + _COMM=demo

[Init]
user = nobody
"""


@pytest.fixture
def tree(tmp_path: pathlib.Path) -> pathlib.Path:
    (tmp_path / "filter.d").mkdir()
    (tmp_path / "filter.d" / "common.conf").write_text(COMMON)
    (tmp_path / "filter.d" / "demo.conf").write_text(DEMO)
    return tmp_path


def test_defaults(tree: pathlib.Path) -> None:
    found = load_filter(tree, "demo")
    assert found.name == "demo"
    assert found.failregex == (
        r"^Failed for <F-USER>\S+</F-USER> from <HOST>$",
        "^Always from <HOST> via demo$",
    )
    assert found.ignoreregex == ("^ignore nobody$",)
    assert found.prefregex == "^FILE:<F-CONTENT>.+</F-CONTENT>$"
    assert found.datepattern == "{^LN-BEG}"
    assert found.maxlines == 2
    assert found.journalmatch == ("_SYSTEMD_UNIT=demo.service + _COMM=demo",)
    assert found.origins["failregex"] == Origin(str(tree / "filter.d" / "demo.conf"), 13)
    assert found.origins["datepattern"].file.endswith("common.conf")


def test_parameters_override_init_and_select_mode(tree: pathlib.Path) -> None:
    found = load_filter(tree, "demo[mode=aggressive, user=root, logtype=journal]")
    assert found.failregex == (
        r"^Failed for <F-USER>\S+</F-USER> from <HOST>$",
        "^Bad thing from <HOST>$",
        "^Always from <HOST> via demo$",
    )
    assert found.ignoreregex == ("^ignore root$",)
    assert found.prefregex == "^JOURNAL:<F-CONTENT>.+</F-CONTENT>$"
    assert found.datepattern == "{^LN-BEG}"


def test_local_overrides_and_known(tree: pathlib.Path) -> None:
    (tree / "filter.d" / "demo.local").write_text(
        "[Definition]\nfailregex = %(known/failregex)s\n            ^Local <HOST>$\n"
    )
    found = load_filter(tree, "demo")
    assert found.failregex[-1] == "^Local <HOST>$"
    assert len(found.failregex) == 3


def test_filter_given_as_path(tree: pathlib.Path) -> None:
    assert load_filter(tree, str(tree / "filter.d" / "demo.conf")).maxlines == 2


def test_unknown_filter(tree: pathlib.Path) -> None:
    with pytest.raises(ConfigError, match="filter 'nope' not found"):
        load_filter(tree, "nope")


def test_bad_spec(tree: pathlib.Path) -> None:
    with pytest.raises(ConfigError, match="invalid reference"):
        load_filter(tree, "demo[mode]")


def test_undefined_interpolation_names_file_and_line(tree: pathlib.Path) -> None:
    (tree / "filter.d" / "broken.conf").write_text("[Definition]\n\nfailregex = %(missing)s\n")
    with pytest.raises(ConfigError) as info:
        load_filter(tree, "broken")
    assert str(info.value).startswith(f"{tree}/filter.d/broken.conf:3: ")
    assert "%(missing)s is not defined" in str(info.value)


def test_tag_loop_names_file_and_line(tree: pathlib.Path) -> None:
    (tree / "filter.d" / "loop.conf").write_text(
        "[Definition]\nfailregex = <a>\na = <b>\nb = <a>\n[Init]\na = <b>\nb = <a>\n"
    )
    with pytest.raises(ConfigError) as info:
        load_filter(tree, "loop")
    assert info.value.file == str(tree / "filter.d" / "loop.conf")
    assert "refers to itself" in str(info.value)


def test_bad_maxlines(tree: pathlib.Path) -> None:
    (tree / "filter.d" / "ml.conf").write_text("[Definition]\nfailregex = x\nmaxlines = many\n")
    with pytest.raises(ConfigError) as info:
        load_filter(tree, "ml")
    assert (info.value.line, "maxlines must be an integer" in str(info.value)) == (3, True)


def test_syntax_error_in_included_file(tree: pathlib.Path) -> None:
    (tree / "filter.d" / "common.conf").write_text("[DEFAULT]\nthis line is wrong\n")
    with pytest.raises(ConfigError) as info:
        load_filter(tree, "demo")
    assert (info.value.file, info.value.line) == (str(tree / "filter.d" / "common.conf"), 2)


@pytest.mark.parametrize(
    "spec", ["demo.conf", "demo[mode=normal]", "{tree}/filter.d/demo", "{tree}/filter.d/demo.conf"]
)
def test_filter_name_forms(tree: pathlib.Path, spec: str) -> None:
    assert load_filter(tree, spec.format(tree=tree)).maxlines == 2


def test_foreign_filter_file(tree: pathlib.Path) -> None:
    foreign = tree / "my.filter"
    foreign.write_text("[Definition]\nfailregex = ^x <HOST>$\n")
    assert load_filter(tree, str(foreign)).failregex == ("^x <HOST>$",)


@pytest.mark.parametrize(("backend", "prefix"), [("auto", "FILE:"), ("systemd", "JOURNAL:")])
def test_backend_sets_default_logtype(tree: pathlib.Path, backend: str, prefix: str) -> None:
    found = load_filter(tree, "demo", backend=backend)
    assert found.prefregex == f"^{prefix}<F-CONTENT>.+</F-CONTENT>$"
    # an explicit parameter wins over the backend's default
    assert load_filter(tree, "demo[logtype=file]", backend="systemd").prefregex == (
        "^FILE:<F-CONTENT>.+</F-CONTENT>$"
    )
