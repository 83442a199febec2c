"""Layered reading, includes and %(...)s interpolation (fail2ban semantics), error locations."""

from __future__ import annotations

import json
import pathlib
import subprocess

import pytest

from warden.config.confset import layered_files, read_layered, read_set
from warden.errors import ConfigError


def write(root: pathlib.Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_read_order(tmp_path: pathlib.Path) -> None:
    write(
        tmp_path,
        {
            "jail.conf": "[s]\na = conf\nb = conf\nc = conf\nd = conf\n",
            "jail.d/2.conf": "[s]\nb = d2conf\n",
            "jail.d/1.conf": "[s]\nb = d1conf\nc = d1conf\n",
            "jail.local": "[s]\nc = local\n",
            "jail.d/1.local": "[s]\nd = d1local\n",
        },
    )
    names = [
        pathlib.Path(p).relative_to(tmp_path).as_posix()
        for p in layered_files(str(tmp_path), "jail")
    ]
    assert names == ["jail.conf", "jail.d/1.conf", "jail.d/2.conf", "jail.local", "jail.d/1.local"]
    merged = read_layered(str(tmp_path), "jail")
    assert merged is not None
    got = {k: merged.get("s", k) for k in "abcd"}
    assert {k: v.text for k, v in got.items() if v} == {
        "a": "conf",
        "b": "d2conf",
        "c": "local",
        "d": "d1local",
    }
    c = got["c"]
    assert c is not None and c.origin.file.endswith("jail.local") and c.origin.line == 2


def test_includes_before_after_and_local(tmp_path: pathlib.Path) -> None:
    write(
        tmp_path,
        {
            "f.conf": "[INCLUDES]\nbefore = sub/common.conf\nafter = late.conf\n"
            "[s]\na = main\nb = main\n",
            "sub/common.conf": "[INCLUDES]\nafter = more.conf\n[s]\na = common\nx = common\n",
            "sub/more.conf": "[s]\ny = more\n",
            "sub/common.local": "[s]\nx = common-local\n",
            "late.conf": "[s]\nb = late\n",
        },
    )
    merged = read_set([str(tmp_path / "f.conf")])
    rel = [pathlib.Path(p).relative_to(tmp_path).as_posix() for p in merged.files]
    assert rel == ["sub/common.conf", "sub/more.conf", "sub/common.local", "f.conf", "late.conf"]
    values = {k: merged.get("s", k) for k in ("a", "b", "x", "y")}
    assert {k: v.text for k, v in values.items() if v} == {
        "a": "main",
        "b": "late",
        "x": "common-local",
        "y": "more",
    }


def test_include_loop_terminates(tmp_path: pathlib.Path) -> None:
    write(
        tmp_path,
        {
            "a.conf": "[INCLUDES]\nbefore = b.conf\n[s]\nx = a\n",
            "b.conf": "[INCLUDES]\nbefore = a.conf\n[s]\nx = b\n",
        },
    )
    merged = read_set([str(tmp_path / "a.conf")])
    assert [pathlib.Path(p).name for p in merged.files] == ["b.conf", "a.conf"]


def test_missing_include_is_an_error_with_location(tmp_path: pathlib.Path) -> None:
    write(tmp_path, {"a.conf": "[INCLUDES]\n\nbefore = nothere.conf\n[s]\nx = 1\n"})
    with pytest.raises(ConfigError) as info:
        read_set([str(tmp_path / "a.conf")])
    assert str(info.value) == (
        f"{tmp_path}/a.conf:3: included file {tmp_path}/nothere.conf does not exist"
    )


def test_missing_local_include_is_optional(tmp_path: pathlib.Path) -> None:
    write(tmp_path, {"a.conf": "[INCLUDES]\nafter = overrides.local\n[s]\nx = 1\n"})
    assert read_set([str(tmp_path / "a.conf")]).get("s", "x") is not None


INTERPOLATION = [
    # (files, section, option, expected)
    ({"t.conf": "[DEFAULT]\nx = 1\n[s]\na = %(x)s-%(__name__)s\n"}, "s", "a", "1-s"),
    ({"t.conf": "[s]\nx = own\na = %(X)s\n[DEFAULT]\nx = dflt\n"}, "s", "a", "own"),
    ({"t.conf": "[s]\na = 100%%\n"}, "s", "a", "100%"),
    ({"t.conf": "[o]\nv = other\n[s]\na = %(o/v)s\n"}, "s", "a", "other"),
    ({"t.conf": "[DEFAULT]\nv = d\n[s]\nv = s\na = %(default/v)s\n"}, "s", "a", "d"),
    ({"t.conf": "[o]\nv = %(__name__)s\n[s]\na = %(o/v)s\n"}, "s", "a", "s"),
    (
        {"t.conf": "[s]\nv = old\n", "t.local": "[s]\nv = new <%(known/v)s>\n"},
        "s",
        "v",
        "new <old>",
    ),
    ({"t.conf": "[DEFAULT]\nv = dflt\n[s]\na = %(known/v)s\n"}, "s", "a", "dflt"),
    ({"t.conf": "[s]\na = %(b)s\nb = %(c)s\nc = deep\n"}, "s", "a", "deep"),
]


@pytest.mark.parametrize(("files", "section", "option", "expected"), INTERPOLATION)
def test_interpolation(
    tmp_path: pathlib.Path, files: dict[str, str], section: str, option: str, expected: str
) -> None:
    write(tmp_path, files)
    merged = read_layered(str(tmp_path), "t")
    assert merged is not None
    found = merged.get(section, option)
    assert found is not None and found.text == expected


def test_interpolation_matches_fail2ban(tmp_path: pathlib.Path) -> None:
    """The same cases through fail2ban's own parser (skipped without fail2ban)."""
    script = (
        "import json,sys\n"
        "from fail2ban.client.configreader import ConfigReaderUnshared as R\n"
        "out=[]\n"
        "for base, sec, opt in json.load(sys.stdin):\n"
        "    r=R(basedir=base); r.read('t'); out.append(r.get(sec, opt))\n"
        "print(json.dumps(out))\n"
    )
    jobs = []
    for number, (files, section, option, _) in enumerate(INTERPOLATION):
        root = tmp_path / str(number)
        write(root, files)
        jobs.append((str(root), section, option))
    done = subprocess.run(
        ["/usr/bin/python3", "-c", script],
        input=json.dumps(jobs),
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip("fail2ban not importable")
    assert json.loads(done.stdout) == [case[3] for case in INTERPOLATION]


INTERPOLATION_ERRORS = [
    ("[s]\n\na = %(nope)s\n", 3, "%(nope)s is not defined"),
    ("[s]\na = %(b)s\nb = %(a)s\n", 2, "nest deeper than 10 levels"),
    ("[s]\na = 50%\n", 2, "'%' must be followed by '%' or '(name)s'"),
    ("[s]\na = %(unclosed\n", 2, "malformed reference"),
]


@pytest.mark.parametrize(("text", "line", "message"), INTERPOLATION_ERRORS)
def test_interpolation_errors(tmp_path: pathlib.Path, text: str, line: int, message: str) -> None:
    write(tmp_path, {"t.conf": text})
    merged = read_layered(str(tmp_path), "t")
    assert merged is not None
    with pytest.raises(ConfigError) as info:
        merged.get("s", "a")
    assert (info.value.file, info.value.line) == (str(tmp_path / "t.conf"), line)
    assert message in str(info.value)


def test_conditional_section_options_are_renamed(tmp_path: pathlib.Path) -> None:
    write(tmp_path, {"t.conf": "[Init]\nx = 4\n[Init?family=inet6]\nx = 6\n"})
    merged = read_layered(str(tmp_path), "t")
    assert merged is not None
    assert merged.own_options("Init") == ["x", "x?family=inet6"]
