"""Progress of ``warden regex`` and ``warden replay`` on a terminal (stderr a pty): lines, the
rate and the time left, rewritten in place and cleared at the end; nothing when stderr is not
a terminal. The results on stdout are the same either way."""

from __future__ import annotations

import os
import pty
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli.test_replay_cli import T0 as START
from tests.cli.test_replay_cli import line, tree

__all__ = ["tree"]  # the fixture, used below by name

LINES = 6_000
PROGRESS = re.compile(r"\r(regex|replay): ([\d,]+) lines, [\d,]+ lines/s, ETA \d+ s")


@pytest.fixture
def auth_log(tree: Path) -> Path:
    log = tree.parent / "auth.log"
    # a few attackers, one failure a second: long enough to be worth a progress line
    log.write_text("".join(line(f"192.0.2.{i % 7 + 1}", START + i) for i in range(LINES)))
    return log


def _run(argv: list[str], *, terminal: bool) -> tuple[str, str]:
    """stdout, stderr of ``argv``, stderr on a pseudo-terminal if ``terminal``."""
    if not terminal:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=True)
        return done.stdout, done.stderr
    main, side = pty.openpty()
    try:
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=side, text=True)
    finally:
        os.close(side)
    out, _ = proc.communicate(timeout=120)
    err = b""
    while True:
        try:
            chunk = os.read(main, 65536)
        except OSError:  # EIO: the child and its terminal are gone
            break
        if not chunk:
            break
        err += chunk
    os.close(main)
    assert proc.returncode == 0, err
    return out, err.decode()


@pytest.mark.parametrize("command", ["regex", "replay"])
def test_progress_only_on_a_terminal(command: str, tree: Path, auth_log: Path) -> None:
    argv = [sys.executable, "-m", "warden", command, str(auth_log)]
    argv += ["sshd", "-c", str(tree)] if command == "regex" else ["-c", str(tree), "--json"]
    out_tty, err_tty = _run(argv, terminal=True)
    out_pipe, err_pipe = _run(argv, terminal=False)
    shown = PROGRESS.findall(err_tty)
    assert shown, repr(err_tty)
    assert {name for name, _ in shown} == {command}
    assert 0 < int(shown[0][1].replace(",", "")) <= LINES
    # cleared at the end: the last thing written is blanks and a carriage return
    assert err_tty.endswith("\r") and not err_tty.rstrip("\r").rsplit("\r", 1)[-1].strip()
    assert "lines/s" not in err_pipe
    if command == "regex":
        # the summary is the same (but its timing line)
        def strip(text: str) -> str:
            return re.sub(r"\[processed in .*\]", "", text)
        assert strip(out_tty) == strip(out_pipe)
        assert f"Lines: {LINES} lines" in out_tty
    else:
        assert out_tty == out_pipe
