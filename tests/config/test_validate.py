"""config.validate and the limits of the reader: one set of checks, bounded expansion.

The trees are real files; ``load_jails`` is the function ``warden check``, ``warden server``
and ``reload`` all load with.
"""

from __future__ import annotations

import glob
import os
import pathlib
import shutil
import time

import pytest

from warden.config import load_filter, load_jails
from warden.config.confset import MAX_INCLUDE_DEPTH, read_set
from warden.config.interpolation import MAX_SIZE
from warden.config.validate import BACKEND_NAMES, LOG_LEVELS, settings_problems
from warden.core.failregex import compile_regex
from warden.core.filterdef import FilterDefinition
from warden.core.regexlint import certain_problems, lint_regex
from warden.daemon.logtarget import parse_level
from warden.daemon.settings import read_settings
from warden.errors import ConfigError, SourceError
from warden.sources.base import BACKENDS, resolve_encoding

STOCK = pathlib.Path("/etc/fail2ban")
OWN = pathlib.Path(__file__).resolve().parents[2] / "src" / "warden" / "data"

FILTER = "[Definition]\nfailregex = ^fail from <HOST>$\n"
JAIL = """\
[DEFAULT]
action =
filter = %(__name__)s

[demo]
enabled = true
logpath = /var/log/demo.log
"""


def make_tree(root: pathlib.Path, local: str = "") -> pathlib.Path:
    (root / "filter.d").mkdir(parents=True)
    (root / "filter.d" / "demo.conf").write_text(FILTER)
    (root / "jail.conf").write_text(JAIL)
    (root / "jail.local").write_text(local)
    return root


def laughs(levels: int, width: int, leaf: str) -> str:
    lines = ["[DEFAULT]", f"v0 = {leaf}"]
    lines += [f"v{i} = " + f"%(v{i - 1})s" * width for i in range(1, levels)]
    return "\n".join(lines) + f"\n[demo]\nlogpath = /x/%(v{levels - 1})s\n"


@pytest.mark.parametrize("leaf", ["lol", ""])
def test_interpolation_is_bounded_by_size(tmp_path: pathlib.Path, leaf: str) -> None:
    # ten levels of ten references: 3 GB of "lol", or a billion empty expansions
    root = make_tree(tmp_path, laughs(10, 10, leaf))
    started = time.monotonic()
    loaded = load_jails(root)
    assert time.monotonic() - started < 2
    [error] = loaded.errors
    assert str(error) == (f"{root}/jail.local:13: [demo] logpath: interpolation of logpath "
                          f"grows beyond {MAX_SIZE} bytes (references that multiply at every "
                          "level?)")
    assert loaded.jails == ()


def test_interpolation_below_the_bound_still_works(tmp_path: pathlib.Path) -> None:
    root = make_tree(tmp_path, laughs(4, 10, "ab"))  # 2,000 characters
    [jail] = load_jails(root).jails
    assert jail.logpath[0].pattern == "/x/" + "ab" * 1000


def test_includes_are_bounded_by_depth_and_name_the_chain(tmp_path: pathlib.Path) -> None:
    for i in range(1000):
        (tmp_path / f"f{i}.conf").write_text(f"[INCLUDES]\nbefore = f{i + 1}.conf\n")
    (tmp_path / "f1000.conf").write_text("[DEFAULT]\n")
    with pytest.raises(ConfigError) as err:
        read_set([str(tmp_path / "f0.conf")])
    assert str(err.value) == (
        f"{tmp_path}/f63.conf:2: includes nest deeper than {MAX_INCLUDE_DEPTH} files: "
        "f0.conf -> f1.conf -> f2.conf -> ... (59 more) -> f62.conf -> f63.conf -> f64.conf")


def test_a_chain_below_the_depth_limit_loads(tmp_path: pathlib.Path) -> None:
    for i in range(MAX_INCLUDE_DEPTH - 1):
        (tmp_path / f"f{i}.conf").write_text(f"[INCLUDES]\nbefore = f{i + 1}.conf\n")
    (tmp_path / f"f{MAX_INCLUDE_DEPTH - 1}.conf").write_text("[DEFAULT]\nx = 1\n")
    assert read_set([str(tmp_path / "f0.conf")]).defaults["x"].text == "1"


def _stock_regexes() -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for root in (STOCK, OWN):
        for path in sorted(glob.glob(f"{root}/filter.d/*.conf")):
            name = os.path.basename(path)[:-5]
            for mode in ("", "[mode=aggressive]", "[mode=ddos]", "[mode=extra]"):
                try:
                    flt = load_filter(root, name + mode)
                except ConfigError:
                    continue  # fragments such as selinux-common.conf are not filters
                found += _regexes(path, flt)
    return sorted(set(found))


def _regexes(path: str, flt: FilterDefinition) -> list[tuple[str, str]]:
    """(where, expanded regex) for every regex of ``flt``."""
    found: list[tuple[str, str]] = []
    groups = [("failregex", flt.failregex), ("ignoreregex", flt.ignoreregex),
              ("prefregex", (flt.prefregex,) if flt.prefregex else ())]
    for option, regexes in groups:
        for index, rx in enumerate(regexes):
            compiled = compile_regex(rx, option=option, index=index, multiline=flt.maxlines > 1)
            found.append((f"{path} {option} #{index + 1}", compiled.expanded))
    return found


@pytest.mark.skipif(not STOCK.is_dir(), reason="no /etc/fail2ban")
def test_no_stock_or_own_filter_is_refused_as_exponential() -> None:
    regexes = _stock_regexes()
    assert len(regexes) > 400
    assert [where for where, rx in regexes if certain_problems(rx)] == []
    # the linter does flag some of them: those stay warnings
    assert any(lint_regex(rx) for _, rx in regexes)


@pytest.mark.parametrize("pattern", [r"^(a+)+$", r"^user (\w+)+ from (?P<ip4>\S+)$",
                                     r"(?:[^ ]+)*x", r"((?:ab|c)+)+$"])
def test_certain_problems_flag_a_loop_of_a_loop(pattern: str) -> None:
    [problem] = certain_problems(pattern)
    assert "repeats nothing but another unbounded loop" in problem


@pytest.mark.parametrize("pattern", [r"^(\w+\s?)*$", r"(?:[^\[]+ )*\[", r"(?>a+)+$",
                                     r"(a+)++$", r"(a{1,5})+$", "(unclosed"])
def test_certain_problems_leave_the_uncertain_shapes_to_warnings(pattern: str) -> None:
    assert certain_problems(pattern) == []


def test_the_backend_names_are_the_sources_ones() -> None:
    assert set(BACKEND_NAMES) == set(BACKENDS)


@pytest.mark.parametrize("encoding", ["utf-8", "latin-1", "auto", "utf-16", "nope", "cp500"])
def test_logencoding_is_refused_exactly_when_the_reader_refuses_it(
        tmp_path: pathlib.Path, encoding: str) -> None:
    root = make_tree(tmp_path, f"[demo]\nlogencoding = {encoding}\n")
    errors = load_jails(root).errors
    try:
        resolve_encoding(encoding)
    except SourceError as exc:
        assert [e.message for e in errors] == [f"[demo] {exc}; the jail is skipped"]
    else:
        assert errors == ()


def test_every_loglevel_name_is_one_the_daemon_reads() -> None:
    for name in LOG_LEVELS:
        parse_level(name)


@pytest.mark.parametrize("line", ["loglevel = LOUD", "dbpurgeage = soon"])
def test_settings_are_refused_with_the_daemons_message(tmp_path: pathlib.Path,
                                                       line: str) -> None:
    root = make_tree(tmp_path)
    (root / "warden.conf").write_text(f"[Definition]\n{line}\n")
    settings = load_jails(root).settings
    with pytest.raises(ConfigError) as daemon:
        read_settings(settings, foreground=True)
    assert [str(p) for p in settings_problems(settings)] == [str(daemon.value)]
    assert str(daemon.value).startswith(f"{root}/warden.conf:2: ")


@pytest.mark.skipif(not STOCK.is_dir(), reason="no /etc/fail2ban")
def test_the_stock_trees_have_no_unknown_option(tmp_path: pathlib.Path) -> None:
    copy = tmp_path / "fail2ban"
    shutil.copytree(STOCK, copy)
    (copy / "jail.local").write_text("[DEFAULT]\nenabled = true\n")
    loaded = load_jails(copy)
    assert loaded.errors == ()
    assert [w for w in loaded.warnings if "unknown option" in w.message] == []
    own = load_jails(OWN)
    assert (own.errors, own.warnings) == ((), ())


def test_a_name_the_tree_refers_to_is_known(tmp_path: pathlib.Path) -> None:
    root = make_tree(tmp_path, "[DEFAULT]\nmy_logs = /var/log/x.log\nmy_unused = 1\n"
                               "[demo]\nlogpath = %(my_logs)s\nchian = FORWARD\n"
                               "flavour = plain\n")
    # a parameter only some filter reads, as a tag
    (root / "filter.d" / "demo.conf").write_text(FILTER + "x = <flavour>\n")
    warnings = [str(w) for w in load_jails(root).warnings]
    assert warnings == [
        f"{root}/jail.local:3: [DEFAULT] unknown option 'my_unused'; it has no effect",
        f"{root}/jail.local:6: [demo] unknown option 'chian' (did you mean chain?); it has no "
        "effect",
    ]
