"""fail2ban's annotated corpus through ``warden regex --json``, every stream in this process.

The shared harness (``../shared/compat/score.py``) starts one ``python -m warden`` per stream;
those interpreter starts were nine tenths of a corpus run. This driver uses the harness's own
expected results, streams, time zone, reference time and per-line verdict
(``compat_common.compare``) and calls warden's command-line ``main`` for each stream instead, so
the two give the same score (score.py stays the tool to run by hand and in scripts/filter-table).
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from tests.core.test_dates_oracle import local_tz
from warden.cli.main import main as warden_main

ROOT = Path(__file__).resolve().parents[2]
COMPAT = Path(os.environ.get("WARDEN_COMPAT_DIR", ROOT.parent / "shared" / "compat"))
CORPUS = Path("/usr/lib/python3/dist-packages/fail2ban/tests/files/logs")

__all__ = ["COMPAT", "CORPUS", "Score", "harness_missing", "score"]


@dataclass
class Score:
    """Per filter [agreeing lines, lines]; the disagreeing case ids with their differences."""

    per_filter: dict[str, list[int]] = field(default_factory=dict)
    disagree: dict[str, list[str]] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(total for _, total in self.per_filter.values())

    @property
    def agree(self) -> int:
        return sum(agree for agree, _ in self.per_filter.values())


def harness_missing() -> str | None:
    """Why the corpus cannot run here, or None."""
    if not CORPUS.is_dir():
        return "fail2ban's corpus is not installed"
    if not (COMPAT / "compat_common.py").is_file():
        return f"conformance harness not found in {COMPAT} (set WARDEN_COMPAT_DIR)"
    return None


def _harness() -> ModuleType:
    """The shared harness's compat_common (standard library only, never writes next to itself)."""
    spec = importlib.util.spec_from_file_location("compat_common", COMPAT / "compat_common.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run_stream(cases: list[dict[str, Any]], config_dir: str, log: Path,
                now: float) -> dict[int, Any]:
    """``warden regex --json`` over one stream's lines; line number -> its JSON object."""
    log.write_text("".join(c["line"] + "\n" for c in cases), encoding="utf-8")
    argv = ["regex", "--json", "--config-dir", config_dir, "--now", str(now)]
    argv += ["--journal"] if cases[0]["journal"] else []
    argv += [str(log), cases[0]["filter_spec"]]
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = warden_main(argv)
    assert code == 0, f"warden {' '.join(argv)}: exit {code}: {err.getvalue()}"
    return {int(o["line"]): o for o in map(json.loads, out.getvalue().splitlines())}


def score(work: Path, config_dir: Path | None = None) -> Score:
    """Score the corpus: fail2ban's own tree (each case's config dir), or ``config_dir``'s
    filters on the corpus filters it has, as ``score.py [--config-dir DIR]`` does."""
    cc = _harness()
    paths = cc.ensure_cache(cc.cache_dir())
    meta = json.loads(Path(paths["meta"]).read_text(encoding="utf-8"))
    cases = cc.load_cases(paths["expected"])
    if config_dir is not None:
        have = {p.stem for p in (config_dir / "filter.d").glob("*.conf")}
        cases = [c for c in cases if c["filter"] in have]
    result = Score()
    with local_tz(meta.get("tz", "CET-01CEST-02,M3.5.0,M10.5.0")):
        for index, (_, stream) in enumerate(sorted(cc.group_streams(cases).items())):
            where = str(config_dir) if config_dir is not None else stream[0]["config_dir"]
            outs = _run_stream(stream, where, work / f"{index:03d}.log",
                               meta.get("now", 1124013600))
            for case in stream:
                diffs = cc.compare(case["expect"], outs.get(case["seq"]))
                counts = result.per_filter.setdefault(case["test"], [0, 0])
                counts[0] += not diffs
                counts[1] += 1
                if diffs:
                    result.disagree[case["id"]] = diffs
    return result
