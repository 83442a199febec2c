"""Key acceptance test: load_filter gives exactly what fail2ban's FilterReader gives.

Every filter of /etc/fail2ban/filter.d and every filter spec of the conformance corpus is
loaded by warden and by Debian's fail2ban (run by /usr/bin/python3 in a subprocess); the
regex lists, prefregex, datepattern, maxlines and journalmatch must be identical, and a filter
fail2ban cannot load must be a ConfigError here.
"""

from __future__ import annotations

import json
import os
import pathlib
import shlex
import subprocess

import pytest

from warden.config import FileCache, load_filter
from warden.errors import ConfigError

SYSTEM_PYTHON = "/usr/bin/python3"
STOCK = pathlib.Path("/etc/fail2ban")
EXPECTED = pathlib.Path(os.environ.get("WARDEN_COMPAT_CACHE", "/tmp/warden-compat"))
ORACLE = pathlib.Path(__file__).with_name("f2b_oracle.py")


def _fail2ban_available() -> bool:
    if not (os.path.exists(SYSTEM_PYTHON) and (STOCK / "filter.d").is_dir()):
        return False
    probe = subprocess.run(
        [SYSTEM_PYTHON, "-c", "import fail2ban.client.filterreader"],
        capture_output=True,
        check=False,
    )
    return probe.returncode == 0


pytestmark = pytest.mark.skipif(not _fail2ban_available(), reason="fail2ban not installed")


def _specs() -> list[tuple[str, str]]:
    specs = {(str(STOCK), path.stem) for path in (STOCK / "filter.d").glob("*.conf")}
    expected = EXPECTED / "expected.jsonl"
    if expected.exists():
        for line in expected.read_text().splitlines():
            case = json.loads(line)
            specs.add((case["config_dir"], case["filter_spec"]))
    return sorted(specs)


@pytest.fixture(scope="module")
def oracle() -> dict[tuple[str, str], dict[str, object]]:
    specs = _specs()
    done = subprocess.run(
        [SYSTEM_PYTHON, str(ORACLE)],
        input=json.dumps(specs),
        capture_output=True,
        text=True,
        check=True,
    )
    return dict(zip(specs, json.loads(done.stdout), strict=True))


def _warden(config_dir: str, spec: str, cache: FileCache) -> dict[str, object]:
    try:
        found = load_filter(config_dir, spec, cache=cache)
    except ConfigError as exc:
        return {"error": str(exc)}
    return {
        "failregex": list(found.failregex),
        "ignoreregex": list(found.ignoreregex),
        "prefregex": found.prefregex,
        "datepattern": found.datepattern,
        "maxlines": found.maxlines,
        # fail2ban splits each journalmatch line into words; compare word lists
        "journalmatch": [" ".join(shlex.split(line)) for line in found.journalmatch],
    }


def test_corpus_specs_present() -> None:
    specs = _specs()
    assert len(specs) >= 90
    assert (str(STOCK), "sshd") in specs


def test_every_filter_matches_fail2ban(oracle: dict[tuple[str, str], dict[str, object]]) -> None:
    cache = FileCache()
    mismatches: list[tuple[str, object, object]] = []
    for (config_dir, spec), expected in oracle.items():
        got = _warden(config_dir, spec, cache)
        if "error" in expected:
            if "error" not in got:
                mismatches.append((spec, "fail2ban fails but warden loads", expected["error"]))
            continue
        if got != expected:
            differing = sorted(k for k in expected if got.get(k) != expected.get(k))
            mismatches.append((spec, differing, got.get("error")))
    assert not mismatches, f"{len(mismatches)}/{len(oracle)} differ: {mismatches[:5]}"


SYNTHETIC = {
    "filter.d/base.conf": (
        "[INCLUDES]\nafter = base-after.conf\n"
        "[DEFAULT]\n_daemon = base\n__pfx = <lt_<logtype>/p>\nlogtype = file\n"
        "[lt_file]\np = F:\n[lt_journal]\np = J:%(lt_file/p)s\n"
    ),
    "filter.d/base-after.conf": "[DEFAULT]\n__sfx = \\s*$ ; trailing comment\n",
    "filter.d/x.conf": (
        "[INCLUDES]\nbefore = base.conf\n"
        "[Definition]\n"
        "mode = normal\n"
        "_a = 100%% <_daemon>;not-a-comment\n"
        "re-normal = ^<__pfx> normal <HOST>%(__sfx)s\n"
        "re-more = <re-normal>\n          ^<__pfx> more <HOST> <F-USER>.+</F-USER>$\n"
        "failregex = <re-<mode>>\n\n    # comment line inside\n    ^%(_a)s <HOST>$\n"
        "ignoreregex =\n"
        "datepattern = ^%%Y-%%m-%%d\n"
        "[Init]\nuser = nobody\nmaxlines = 1\n"
    ),
    "filter.d/x.d/10-a.conf": "[Definition]\n_a = from-d <user>\n",
    "filter.d/x.local": (
        "[Definition]\nfailregex = %(known/failregex)s\n            ^local <HOST>$\n"
        "[Init]\nuser = root\n"
    ),
    "filter.d/x.d/20-b.local": "[Init]\nmaxlines = 2\n",
    "filter.d/y.conf": (
        "[INCLUDES]\nbefore = base.conf\n"
        "[Definition]\nfailregex = ^<__pfx> <known/_daemon> <_daemon> <HOST>$\n"
        "journalmatch = _SYSTEMD_UNIT=y.service\n               _COMM=y\n"
        "[DEFAULT]\n_daemon = y-%(__name__)s\n"
    ),
}


def test_synthetic_tree_matches_fail2ban(tmp_path: pathlib.Path) -> None:
    for name, text in SYNTHETIC.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    specs = [
        (str(tmp_path), spec)
        for spec in (
            "x",
            "x[mode=more]",
            "x[mode=more, logtype=journal]",
            "x[user=admin]",
            "x[maxlines=5]",
            "y",
            "y[logtype=journal]",
            "y[_daemon=other]",
        )
    ]
    done = subprocess.run(
        [SYSTEM_PYTHON, str(ORACLE)],
        input=json.dumps(specs),
        capture_output=True,
        text=True,
        check=True,
    )
    expected = json.loads(done.stdout)
    cache = FileCache()
    for spec, want in zip(specs, expected, strict=True):
        assert "error" not in want, (spec, want)
        assert _warden(*spec, cache) == want, spec
