"""The command word decides how much of the grammar is built: a command of ``cli.main``'s own
gets the same parse from the short parser as from the whole one."""

from __future__ import annotations

import subprocess
import sys

import pytest

from warden.cli.main import _command_of, build_parser


@pytest.mark.parametrize(("argv", "command"), [
    (["regex", "a.log", "sshd"], "regex"),
    (["-c", "regex", "check"], "check"),  # the value of -c is no command
    (["--socket", "/run/x.sock", "--conf", "/etc/x", "status", "sshd"], "status"),
    (["--config-dir=/etc/x", "init"], "init"),
    (["--version"], None),
    ([], None),
])
def test_the_command_word(argv: list[str], command: str | None) -> None:
    assert _command_of(argv) == command


@pytest.mark.parametrize("argv", [
    ["regex", "a.log", "sshd", "--json", "-c", "/etc/fail2ban"],
    ["-c", "/etc/x", "check"],
    ["server", "-f", "--loglevel", "DEBUG"],
    ["init", "-c", "/tmp/w"],
])
def test_the_short_parser_parses_as_the_whole_one(argv: list[str]) -> None:
    assert vars(build_parser(command=_command_of(argv)).parse_args(argv)) == \
        vars(build_parser().parse_args(argv))


def test_the_short_parser_leaves_the_protocol_out() -> None:
    # (in a fresh interpreter: this one may have imported the protocol for other tests)
    code = ("import sys; from warden.cli.main import build_parser; build_parser(command='regex'); "
            "print('warden.protocol' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "False"
