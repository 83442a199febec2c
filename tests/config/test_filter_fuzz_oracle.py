"""Differential test: random small filter trees (includes, .local, [DEFAULT]/[Definition]/[Init],
%(...)s, <tag>, nested and qualified tags, comments) load exactly as in fail2ban."""

from __future__ import annotations

import json
import pathlib
import random
import subprocess

import pytest

from tests.config.test_filter_oracle import ORACLE, SYSTEM_PYTHON, _fail2ban_available, _warden
from warden.config import FileCache

pytestmark = pytest.mark.skipif(not _fail2ban_available(), reason="fail2ban not installed")

TREES = 150
_TAGS = [
    "a",
    "b",
    "c",
    "mode",
    "HOST",
    "x-<mode>",
    "known/a",
    "known/failregex",
    "lt/p",
    "lt_<logtype>/p",
    "nope",
]
_REFS = ["a", "b", "c", "mode", "lt/p", "known/a", "known/b", "default/c", "__name__", "nope"]
_TEXT = ["v", "^x ", "$", "[]", "(?:y)"]


def _value(rng: random.Random) -> str:
    parts = []
    for _ in range(rng.randint(0, 3)):
        pick = rng.random()
        if pick < 0.25:
            parts.append(f"<{rng.choice(_TAGS)}>")
        elif pick < 0.45:
            parts.append(f"%({rng.choice(_REFS)})s")
        elif pick < 0.5:
            parts.append("%%")
        elif pick < 0.55:
            parts.append("\n  ")
        elif pick < 0.6:
            parts.append(" ; comment")
        else:
            parts.append(rng.choice(_TEXT))
    return "".join(parts)


def _section(rng: random.Random, name: str, keys: list[str]) -> str:
    lines = [f"[{name}]"]
    for key in rng.sample(keys, rng.randint(0, len(keys))):
        lines.append(f"{key} = {_value(rng)}")
    return "\n".join(lines) + "\n"


def _tree(rng: random.Random, root: pathlib.Path) -> None:
    files = {
        "f.conf": "[INCLUDES]\nbefore = inc.conf\n"
        + _section(rng, "DEFAULT", ["a", "c", "logtype"])
        + _section(
            rng,
            "Definition",
            ["a", "b", "failregex", "ignoreregex", "mode", "x-normal", "prefregex"],
        )
        + _section(rng, "Init", ["a", "mode", "b"])
        + _section(rng, "lt", ["p"])
        + _section(rng, "lt_file", ["p"]),
        "inc.conf": _section(rng, "DEFAULT", ["a", "b", "c"])
        + _section(rng, "Definition", ["a", "failregex", "c"]),
        "f.local": _section(rng, "Definition", ["a", "failregex", "b"])
        + _section(rng, "Init", ["c"]),
    }
    (root / "filter.d").mkdir(parents=True)
    for name, text in files.items():
        (root / "filter.d" / name).write_text(text)


def test_random_trees_match_fail2ban(tmp_path: pathlib.Path) -> None:
    rng = random.Random(20261127)
    specs = []
    for number in range(TREES):
        root = tmp_path / str(number)
        _tree(rng, root)
        params = rng.choice(
            ["", "[mode=normal]", "[a=P, logtype=file]", "[failregex=<a> Z]", "[b=<c>]"]
        )
        specs.append((str(root), "f" + params))
    done = subprocess.run(
        [SYSTEM_PYTHON, str(ORACLE)],
        input=json.dumps(specs),
        capture_output=True,
        text=True,
        check=True,
    )
    expected = json.loads(done.stdout)
    cache = FileCache()
    mismatches = []
    loaded = 0
    for spec, want in zip(specs, expected, strict=True):
        got = _warden(*spec, cache)
        if "error" in want or "error" in got:
            if ("error" in want) != ("error" in got):
                mismatches.append((spec, want, got))
            continue
        loaded += 1
        if got != want:
            mismatches.append((spec, want, got))
    assert mismatches == []
    assert loaded > TREES // 3  # the generator must produce mostly loadable trees
