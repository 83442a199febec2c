"""The one I/O seam of the backends: running a command as an argument list.

Backends never build shell text. They hand an argv (and optionally bytes for its standard
input) to a :class:`Runner`. :class:`SubprocessRunner` runs it for real, optionally behind a
command prefix such as ``("ip", "netns", "exec", "NS")`` so tests and jailed setups can point a
backend at another network namespace; :class:`RecordingRunner` only records, which is how the
backends that cannot run on this machine (pf, ipfw, firewalld) are checked against the exact
commands they would run.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from warden.errors import BackendError

__all__ = ["Command", "Completed", "RecordingRunner", "Runner", "SubprocessRunner"]


@dataclass(frozen=True, slots=True)
class Command:
    """One command: its argument list, its standard input, extra environment variables and
    its own time limit (``None``: the runner's)."""

    argv: tuple[str, ...]
    stdin: str | None = None
    env: Mapping[str, str] | None = None
    timeout: float | None = None


@dataclass(frozen=True, slots=True)
class Completed:
    """What a command did: exit status and its output (decoded, replaced on bad bytes)."""

    returncode: int
    stdout: str = ""
    stderr: str = ""


class Runner(Protocol):
    """Runs one command; never raises for a non-zero exit (the caller decides)."""

    def __call__(self, command: Command) -> Completed:
        """Run ``command`` and report how it ended."""


class SubprocessRunner:
    """Runs commands with :mod:`subprocess`, never through a shell.

    ``prefix`` is prepended to every argv (e.g. ``("ip", "netns", "exec", "victim")``);
    ``timeout`` bounds each command: a command that hangs is killed and reported as a
    :class:`BackendError`, so a stuck firewall tool cannot stall the daemon forever.
    """

    def __init__(self, prefix: Sequence[str] = (), timeout: float = 30.0) -> None:
        self.prefix = tuple(prefix)
        self.timeout = timeout

    def __call__(self, command: Command) -> Completed:
        argv = (*self.prefix, *command.argv)
        timeout = self.timeout if command.timeout is None else command.timeout
        env = None if command.env is None else {**os.environ, **command.env}
        try:
            # a session of its own, so a timeout kills the whole process group (a shell
            # action's children too), not only the first process
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.PIPE if command.stdin is not None else subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=env,
                start_new_session=True,
            )
        except FileNotFoundError as exc:
            raise BackendError(f"cannot run {argv[0]!r}: not installed or not in PATH") from exc
        data = command.stdin.encode() if command.stdin is not None else None
        try:
            out, err = proc.communicate(data, timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            raise BackendError(
                f"{' '.join(argv[:3])}… did not finish within {timeout:g}s and was killed"
            ) from exc
        return Completed(proc.returncode, out.decode(errors="replace"),
                         err.decode(errors="replace"))


@dataclass
class RecordingRunner:
    """Records every command and answers with ``respond(command)`` (default: success).

    The dry-run twin of :class:`SubprocessRunner` and the instrument of the recorded command
    contract tests.
    """

    respond: Callable[[Command], Completed] = field(default=lambda command: Completed(0))
    commands: list[Command] = field(default_factory=list)

    def __call__(self, command: Command) -> Completed:
        self.commands.append(command)
        return self.respond(command)
