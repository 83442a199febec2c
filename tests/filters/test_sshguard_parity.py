"""What SSHGuard counts on sshd's log, warden's own sshd filter counts in ``mode=ddos`` (issue 15:
a user who switches from SSHGuard loses nothing).

Every line of fail2ban's annotated sshd sample log is given to SSHGuard's own parser
(``sshg-parser``, Debian's sshguard package) and, in order, to one instance of warden's own
``sshd[mode=ddos]``. Each line SSHGuard reports as an SSH attack must give warden a failure for
the same address - unless fail2ban's annotation of that line names another address and warden
agrees with the annotation: those are injection lines, where SSHGuard takes an address that
follows client text (a user name) and warden the one sshd wrote.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.filters.test_filters import NOW, _filter

PARSER = Path("/usr/libexec/sshguard/sshg-parser")
SAMPLE = Path("/usr/lib/python3/dist-packages/fail2ban/tests/files/logs/sshd")
SSH_SERVICE = "100"  # SSHGuard's service code for sshd

pytestmark = pytest.mark.skipif(not PARSER.exists() or not SAMPLE.exists(),
                                reason="needs sshguard and fail2ban's sample logs")


def _sshguard(line: str) -> str | None:
    """The address SSHGuard's parser blames for ``line`` as an sshd attack, or None."""
    out = subprocess.run([str(PARSER)], input=line + "\n", capture_output=True, text=True,
                         timeout=10, check=False).stdout.split()
    return out[1] if len(out) >= 2 and out[0] == SSH_SERVICE else None


def _sample() -> list[tuple[str, str | None]]:
    """(line, the host fail2ban's annotation names or None) for every log line of the sample."""
    lines: list[tuple[str, str | None]] = []
    annotated: str | None = None
    for raw in SAMPLE.read_text(encoding="utf-8").splitlines():
        if raw.startswith("# failJSON:"):
            annotated = json.loads(raw.split(":", 1)[1]).get("host")
        elif raw.strip() and not raw.startswith("#"):
            lines.append((raw, annotated))
            annotated = None
    return lines


def test_own_sshd_in_ddos_mode_counts_what_sshguard_counts() -> None:
    flt = _filter("sshd[mode=ddos]", False)
    flagged, missed = 0, []
    for line, annotated in _sample():
        result = flt.process(line, NOW)
        own = result.failures[0].fid if result.failures else None
        theirs = _sshguard(line)
        if theirs is None:
            continue
        flagged += 1
        if own != theirs and not (annotated not in (None, theirs) and own == annotated):
            missed.append(f"SSHGuard {theirs}, warden {own}: {line}")
    assert flagged >= 40, f"SSHGuard's parser reported only {flagged} lines: is it working?"
    assert not missed, "\n".join(missed)
