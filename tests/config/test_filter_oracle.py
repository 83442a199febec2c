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
