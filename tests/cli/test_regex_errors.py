"""`warden regex` turns a user's mistakes into one clear line and exit code 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

STOCK = Path("/etc/fail2ban")
ROOT = Path(__file__).resolve().parents[2]


def _warden(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "warden", *args], capture_output=True,
                          text=True, timeout=60, check=False, cwd=ROOT)


def _one_line_error(proc: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    for needle in needles:
        assert needle in lines[0]


def test_a_mistyped_log_path_is_reported(tmp_path: Path) -> None:
    missing = tmp_path / "no" / "auth.log"
    _one_line_error(_warden("regex", str(missing), "^x <HOST>$"), str(missing), "does not exist")


def test_a_directory_is_not_a_log(tmp_path: Path) -> None:
    _one_line_error(_warden("regex", str(tmp_path), "^x <HOST>$"), "not a regular file")


def test_a_line_with_blanks_is_still_a_single_line() -> None:
    proc = _warden("regex", "Nov 27 06:15:02 gate x: bad from 192.0.2.7", r"bad from <HOST>$")
    assert proc.returncode == 0, proc.stderr
    assert "Lines: 1 lines, 0 ignored, 1 matched, 0 missed" in proc.stdout


@pytest.mark.skipif(not (STOCK / "filter.d" / "sshd.conf").is_file(), reason="needs fail2ban")
def test_broken_parameters_of_a_known_filter_name_the_argument() -> None:
    _one_line_error(_warden("regex", "-c", str(STOCK), "examples/auth.log", "sshd[mode="),
                    "FILTER argument 'sshd[mode='")


def test_a_regex_that_does_not_compile() -> None:
    _one_line_error(_warden("regex", "examples/auth.log", "^Failed (x <HOST>"),
                    "does not compile")
