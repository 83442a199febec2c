"""fail2ban conformance: fail2ban's annotated sample logs through fail2ban's own filters.

Every one of the 1627 annotated lines must agree with fail2ban 1.0.2, scored with the shared
harness's cases and verdict (``tests/compat/corpus.py``; ``../shared/compat/score.py`` gives the
same numbers from the command line).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.compat.corpus import harness_missing, score

EXPECTED_TOTAL = 1627


@pytest.mark.slow
def test_fail2ban_corpus_agrees_on_every_line(tmp_path: Path) -> None:
    missing = harness_missing()
    if missing:
        pytest.skip(missing)
    result = score(tmp_path)
    assert result.total == EXPECTED_TOTAL
    shown = sorted(result.disagree.items())[:40]
    assert result.agree == EXPECTED_TOTAL, "\n".join(f"{k}: {'; '.join(v)}" for k, v in shown)
