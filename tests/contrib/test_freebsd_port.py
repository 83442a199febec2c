"""contrib/freebsd/port agrees with itself, with pyproject.toml and with the source tree.

The port cannot be built here (no FreeBSD ports tree): these checks read its Makefile,
pkg-plist and files/ as bsd.port.mk would use them and compare with what the distribution
declares. Not covered: that the ports framework accepts the Makefile (portlint, poudriere
testport), that the named origins exist in the ports tree, or an install on FreeBSD.
"""

from __future__ import annotations

import ast
import re
import subprocess
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PORT = ROOT / "contrib" / "freebsd" / "port"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
# Standard-library modules that FreeBSD packages as ports of their own (lang/python3x
# leaves them out): module -> port origin.
SPLIT_STDLIB = {"sqlite3": "databases/py-sqlite3", "dbm.gnu": "databases/py-gdbm",
                "tkinter": "x11-toolkits/py-tkinter"}


def _make_vars() -> dict[str, str]:
    """The Makefile's ``NAME=<tab>value`` assignments, continuation lines joined."""
    text = (PORT / "Makefile").read_text().replace("\\\n", " ")
    found = {}
    for line in text.splitlines():
        if match := re.match(r"([A-Z_]+)(\+?=)\s*(.*)", line):
            name, _, value = match.groups()
            found[name] = " ".join(value.split("#", 1)[0].split())
    return found


MAKE = _make_vars()


def _normalize(name: str) -> str:
    """A distribution name as PEP 503 compares them."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _imported_modules() -> set[str]:
    found: set[str] = set()
    for path in (ROOT / "src" / "warden").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                found.add(node.module)
                found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def test_name_and_version_are_the_distributions() -> None:
    assert _normalize(MAKE["PORTNAME"]) == _normalize(PYPROJECT["project"]["name"])
    assert MAKE["DISTVERSION"] == PYPROJECT["project"]["version"]


def test_python_version_is_requires_python() -> None:
    required = PYPROJECT["project"]["requires-python"]
    assert re.fullmatch(r">=\s*3\.\d+", required), required
    assert MAKE["USES"].split() == [f"python:{required.lstrip('>= ')}+"]
    # pep517 builds with the backend of [build-system]; autoplist lists the installed files
    assert set(MAKE["USE_PYTHON"].split()) == {"autoplist", "concurrent", "pep517"}


def _depends(variable: str) -> dict[str, str]:
    """``py-NAME[version]:origin@flavor`` entries of a *_DEPENDS variable: NAME -> origin."""
    entries = {}
    for item in MAKE.get(variable, "").split():
        match = re.fullmatch(r"\$\{PYTHON_PKGNAMEPREFIX\}([A-Za-z0-9_.-]+?)([<>=].*)?"
                             r":([a-z0-9-]+/[A-Za-z0-9_.-]+)@\$\{PY_FLAVOR\}", item)
        assert match, f"{variable}: {item} is not a flavored Python dependency"
        entries[_normalize(match[1])] = match[3]
    return entries


def test_run_depends_are_the_runtime_dependencies() -> None:
    run = _depends("RUN_DEPENDS")
    # pyproject's dependencies, each a py- port of the same name ...
    declared = {_normalize(re.split(r"[\s<>=!~;\[]", dep, maxsplit=1)[0])
                for dep in PYPROJECT["project"]["dependencies"]}
    # ... and the standard library modules warden imports that FreeBSD ships apart
    used = {module for module in SPLIT_STDLIB if module in _imported_modules()}
    assert "sqlite3" in used  # the store
    split = {SPLIT_STDLIB[m].rsplit("/py-", 1)[1]: SPLIT_STDLIB[m] for m in used}
    assert set(run) == declared | set(split)
    for name, origin in split.items():
        assert run[name] == origin


def test_options_are_the_optional_extras() -> None:
    extras = dict(PYPROJECT["project"]["optional-dependencies"])
    del extras["test"], extras["journal"]  # tests, and systemd's journal (Linux only)
    options = set(MAKE["OPTIONS_DEFINE"].split()) - {"DOCS", "EXAMPLES"}
    assert options == {name.upper() for name in extras}
    for name, requirements in extras.items():
        wanted = {_normalize(re.split(r"[\s<>=!~;\[]", r, maxsplit=1)[0]): r
                  for r in requirements}
        depends = _depends(f"{name.upper()}_RUN_DEPENDS")
        assert set(depends) == set(wanted), name
        for dep, requirement in wanted.items():
            # the same lower bound
            assert f"{requirement[len(dep):]}:" in MAKE[f"{name.upper()}_RUN_DEPENDS"]
        assert MAKE.get(f"{name.upper()}_DESC")


def test_build_depends_are_the_build_system() -> None:
    build = _depends("BUILD_DEPENDS")
    for requirement in PYPROJECT["build-system"]["requires"]:
        name = _normalize(re.split(r"[\s<>=!~;\[]", requirement, maxsplit=1)[0])
        assert name in build, requirement
        version = requirement[len(name):]
        assert version in MAKE["BUILD_DEPENDS"], requirement
    assert PYPROJECT["build-system"]["build-backend"] == "setuptools.build_meta"
    assert "wheel" in build  # setuptools' wheel builder, which pep517 calls


def test_rc_script_is_the_contrib_one() -> None:
    names = MAKE["USE_RC_SUBR"].split()
    assert names == ["warden"]
    shipped = (ROOT / "contrib" / "freebsd" / "warden").read_text()
    # USE_RC_SUBR installs files/NAME.in with %%PREFIX%% replaced: no second copy to drift
    assert (PORT / "files" / "warden.in").read_text() == shipped.replace("/usr/local",
                                                                         "%%PREFIX%%")


def _installed() -> set[str]:
    """What the post-install targets put under ${STAGEDIR}${PREFIX}, as pkg-plist names."""
    dirs = {"${STAGEDIR}${PREFIX}/": "", "${STAGEDIR}${DOCSDIR}": "share/doc/warden",
            "${STAGEDIR}${EXAMPLESDIR}": "share/examples/warden"}
    text = (PORT / "Makefile").read_text().replace("\\\n", " ")
    found = set()
    # a destination is a directory if the Makefile makes it one
    made = {word for line in text.splitlines() if line.split()[:1] == ["${MKDIR}"]
            for word in line.split()[1:]}
    for line in text.splitlines():
        words = line.split()
        if not words or words[0] not in ("${INSTALL_DATA}", "${INSTALL_MAN}"):
            continue
        # the ports framework compresses manual pages: the plist names them .gz
        suffix = ".gz" if words[0] == "${INSTALL_MAN}" else ""
        *sources, dest = words[1:]
        for prefix, replacement in dirs.items():
            dest = dest.replace(prefix, replacement)
        assert "$" not in dest, line
        for source in sources:
            relative = source.removeprefix("${WRKSRC}/")
            # the distfile is a git archive: only tracked files are in it
            subprocess.run(["git", "-C", str(ROOT), "ls-files", "--error-unmatch", relative],
                           check=True, capture_output=True)
            is_file = len(sources) == 1 and words[-1] not in made
            found.add((dest if is_file else f"{dest}/{Path(relative).name}") + suffix)
    return found


def test_plist_lists_what_post_install_installs() -> None:
    listed = set()
    for line in (PORT / "pkg-plist").read_text().splitlines():
        entry = line.removeprefix("@sample ")
        entry = re.sub(r"%%PORT(DOCS|EXAMPLES)%%", "", entry)
        entry = entry.replace("%%DOCSDIR%%", "share/doc/warden")
        entry = entry.replace("%%EXAMPLESDIR%%", "share/examples/warden")
        listed.add(entry)
    assert listed == _installed()
    # DOCS and EXAMPLES entries need their options
    assert {"DOCS", "EXAMPLES"} <= set(MAKE["OPTIONS_DEFINE"].split())


def test_descr_and_message() -> None:
    descr = (PORT / "pkg-descr").read_text().splitlines()
    assert descr and all(len(line) <= 80 for line in descr)
    assert MAKE["SUB_FILES"].split() == ["pkg-message"]
    message = (PORT / "files" / "pkg-message.in").read_text()
    assert 'anchor "warden/*"' in message and "warden_enable=YES" in message
