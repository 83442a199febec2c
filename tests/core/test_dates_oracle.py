"""warden's DateDetector against fail2ban's, line by line, on fail2ban's annotated corpus.

fail2ban runs in a subprocess (/usr/bin/python3 can import it; our interpreter cannot). For
every non-journal stream of the compat corpus both detectors see the stream's lines in order,
with the filter's own ``datepattern``; (start, end, time) must be identical.

Run directly for a report: ``python3 tests/core/test_dates_oracle.py [-v]``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from warden.core.datedetect import DateDetector

SYSTEM_PYTHON = "/usr/bin/python3"
COMPAT = Path("/work/shared/compat")
EXPECTED = Path(os.environ.get("WARDEN_COMPAT_CACHE", "/tmp/warden-compat")) / "expected.jsonl"
CORPUS_TZ = "CET-01CEST-02,M3.5.0,M10.5.0"
CORPUS_NOW = 1124013600

# Runs under fail2ban's interpreter: reads streams (JSON on stdin), prints one JSON result per
# stream: the datepattern and logtimezone fail2ban used, and (start, end, time) per line.
_ORACLE = r"""
import json, sys
sys.path.insert(0, sys.argv[1])
import f2b_engine as eng
eng.setup()
from fail2ban.client.filterreader import FilterReader
streams = json.load(sys.stdin)
out = []
for st in streams:
    opts = {}
    flt = eng.make_filter(st["filter"], st["opts"], st["config_dir"])
    conf = FilterReader(st["filter"], "jail", dict(st["opts"]), basedir=st["config_dir"])
    conf.read(); conf.getOptions({})
    pattern = None
    for opt in conf.convert():
        if opt[2] == "datepattern":
            pattern = opt[3]
    dd = flt.dateDetector
    res = []
    for line in st["lines"]:
        try:
            m, tmpl = dd.matchTime(line)
            if m is None:
                res.append(None); continue
            s, e = m.start(1), m.end(1)
            t = None
            if s < e:
                r = dd.getTime(line[s:e], (m, tmpl))
                t = None if r is None else float(r[0])
            res.append([s, e, t])
        except Exception as ex:
            res.append(["error", type(ex).__name__ + ": " + str(ex)])
    out.append({"pattern": pattern, "tz": flt.getLogTimeZone(), "results": res})
json.dump(out, sys.stdout)
"""


def fail2ban_available() -> bool:
    """Whether /usr/bin/python3 can import fail2ban and the corpus is there."""
    if not (Path(SYSTEM_PYTHON).exists() and (COMPAT / "f2b_engine.py").exists()):
        return False
    probe = subprocess.run(
        [SYSTEM_PYTHON, "-c", "import fail2ban.server.datedetector"],
        capture_output=True,
        check=False,
    )
    return probe.returncode == 0


def load_streams() -> list[dict[str, Any]]:
    """Non-journal streams of the corpus, lines in corpus order."""
    if not EXPECTED.exists():
        subprocess.run(
            [sys.executable, str(COMPAT / "score.py"), "--tool", "true"],
            capture_output=True,
            check=False,
        )
    streams: dict[str, dict[str, Any]] = {}
    with EXPECTED.open(encoding="utf-8") as f:
        for raw in f:
            case = json.loads(raw)
            if case["journal"]:
                continue
            st = streams.setdefault(
                case["stream"],
                {
                    "stream": case["stream"],
                    "filter": case["filter"],
                    "opts": case["filter_opts"],
                    "config_dir": case["config_dir"],
                    "lines": [],
                },
            )
            st["lines"].append(case["line"])
    return list(streams.values())


def run_oracle(streams: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """fail2ban's results for ``streams``."""
    proc = subprocess.run(
        [SYSTEM_PYTHON, "-c", _ORACLE, str(COMPAT)],
        input=json.dumps(streams),
        capture_output=True,
        text=True,
        env={**os.environ, "TZ": CORPUS_TZ},
        check=True,
    )
    result: list[dict[str, Any]] = json.loads(proc.stdout)
    return result


@contextmanager
def local_tz(tz: str) -> Iterator[None]:
    """Run with the process' TZ set to ``tz``."""
    old = os.environ.get("TZ")
    os.environ["TZ"] = tz
    time.tzset()
    try:
        yield
    finally:
        if old is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = old
        time.tzset()


def ours(pattern: str | None, tz: str | None, lines: list[str]) -> list[Any]:
    """warden's (start, end, time) per line, fed in order to one detector."""
    dd = DateDetector(pattern, default_tz=tz, now=CORPUS_NOW)
    out: list[Any] = []
    for line in lines:
        m = dd.match(line, CORPUS_NOW)
        out.append(None if m is None else [m.start, m.end, m.time])
    return out


def compare() -> tuple[int, int, list[str]]:
    """(agreeing lines, all lines, descriptions of disagreements)."""
    streams = load_streams()
    expected = run_oracle(streams)
    agree = total = 0
    diffs: list[str] = []
    with local_tz(CORPUS_TZ):
        for st, ref in zip(streams, expected, strict=True):
            got = ours(ref["pattern"], ref["tz"], st["lines"])
            for line, g, r in zip(st["lines"], got, ref["results"], strict=True):
                total += 1
                if g == r:
                    agree += 1
                else:
                    diffs.append(f"{st['stream']}: {line[:90]!r}\n   warden {g}\n   f2b    {r}")
    return agree, total, diffs


@pytest.mark.slow
@pytest.mark.skipif(not fail2ban_available(), reason="fail2ban not importable by /usr/bin/python3")
def test_corpus_dates_identical_to_fail2ban() -> None:
    agree, total, diffs = compare()
    assert not diffs, f"{agree}/{total} agree; first: " + "\n".join(diffs[:10])


if __name__ == "__main__":
    a, n, d = compare()
    for text in d[: None if "-v" in sys.argv else 20]:
        print(text)
    print(f"dates: {a}/{n} corpus lines identical to fail2ban")
