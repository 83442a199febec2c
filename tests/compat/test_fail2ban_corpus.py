"""fail2ban conformance: fail2ban's annotated sample logs through fail2ban's own filters.

Runs the shared harness (``../shared/compat/score.py``) against this checkout's ``warden`` and
requires every one of the 1627 annotated lines to agree with fail2ban 1.0.2.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCORE = Path(os.environ.get("WARDEN_COMPAT_DIR", ROOT.parent / "shared" / "compat")) / "score.py"
EXPECTED_TOTAL = 1627


@pytest.mark.slow
def test_fail2ban_corpus_agrees_on_every_line(tmp_path: Path) -> None:
    if not SCORE.is_file():
        pytest.skip(f"conformance harness not found at {SCORE} (set WARDEN_COMPAT_DIR)")
    summary = tmp_path / "summary.json"
    tool = f"{shlex.quote(sys.executable)} -m warden"
    proc = subprocess.run(
        [sys.executable, str(SCORE), "--tool", tool, "--summary-json", str(summary),
         "--quiet-table", "--show", "40"],
        capture_output=True, text=True, timeout=900, check=False,
    )
    assert proc.returncode == 0, proc.stderr + proc.stdout
    result = json.loads(summary.read_text())
    assert result["total"] == EXPECTED_TOTAL
    assert result["agree"] == EXPECTED_TOTAL, proc.stdout[-6000:]
