"""fail2ban's commands through the one handler, with the fake daemon: the values fail2ban's
server would return (its client formats them), and its errors."""

from __future__ import annotations

import asyncio
import io
import pickle
import time
from pathlib import Path

import pytest

from tests.daemon.fake_context import FILTERS, FakeContext, fake_context
from warden.daemon.compat import answer
from warden.daemon.f2bproto import END, Plain
from warden.daemon.service import handle
from warden.protocol import Request, Response

pytestmark = pytest.mark.skipif(not (FILTERS / "sshd.conf").exists(), reason="needs fail2ban")


class _Error(Exception):
    """Stands for whichever exception class an error answer names."""


class _Reader(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> object:
        return _Error


def _run(ctx: FakeContext, *command: Plain) -> tuple[int, object]:
    async def handler(request: Request) -> Response:
        return await handle(ctx, request)

    data = asyncio.run(answer(handler, list(command), ctx.clock))
    assert data.endswith(END)
    code, result = _Reader(io.BytesIO(data[:-len(END)])).load()
    return code, (result.args if isinstance(result, _Error) else result)


def test_the_values_fail2bans_server_returns(tmp_path: Path) -> None:
    ctx = fake_context(tmp_path, "web", "sshd")
    log = str(tmp_path / "auth.log")
    assert _run(ctx, "ping") == (0, "pong")
    assert _run(ctx, "status") == (0, [("Number of jail", 2), ("Jail list", "sshd, web")])
    assert _run(ctx, "set", "sshd", "banip", "192.0.2.9", "192.0.2.10") == (0, 2)
    assert _run(ctx, "set", "sshd", "banip", "192.0.2.9") == (0, 0)  # already banned
    assert _run(ctx, "status", "sshd") == (0, [
        ("Filter", [("Currently failed", 0), ("Total failed", 0), ("File list", [log])]),
        ("Actions", [("Currently banned", 2), ("Total banned", 2),
                     ("Banned IP list", ["192.0.2.9", "192.0.2.10"])])])
    assert _run(ctx, "status", "sshd", "short")[1] == [
        ("Filter", [("Currently failed", 0), ("Total failed", 0), ("File list", [log])]),
        ("Actions", [("Currently banned", 2), ("Total banned", 2)])]
    assert _run(ctx, "get", "sshd", "banip") == (0, ["192.0.2.9", "192.0.2.10"])
    start = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ctx.clock))
    end = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ctx.clock + 600))
    assert _run(ctx, "get", "sshd", "banip", "--with-time") == (0, [
        f"192.0.2.9 \t{start} + 600 = {end}", f"192.0.2.10 \t{start} + 600 = {end}"])
    assert _run(ctx, "get", "sshd", "banned", "192.0.2.9") == (0, 1)
    assert _run(ctx, "get", "sshd", "banned", "192.0.2.9", "192.0.2.1") == (0, [1, 0])
    assert _run(ctx, "banned") == (0, [{"web": []}, {"sshd": ["192.0.2.9", "192.0.2.10"]}])
    assert _run(ctx, "banned", "192.0.2.10", "192.0.2.1") == (0, [["sshd"], []])
    assert _run(ctx, "set", "sshd", "unbanip", "192.0.2.9", "192.0.2.1") == (0, 1)
    assert _run(ctx, "set", "sshd", "unbanip", "--report-absent", "192.0.2.1") == (
        1, ("not banned: ['192.0.2.1']",))
    assert _run(ctx, "unban", "--all") == (0, 1)
    assert _run(ctx, "echo", "a", 1) == (0, ["a", 1])


def test_reload_and_stop_reach_the_daemon(tmp_path: Path) -> None:
    ctx = fake_context(tmp_path, "sshd")
    # what fail2ban's client sends: name or --all, its options, its own reading of the tree
    assert _run(ctx, "reload", "--all", [], [["start", "sshd"]]) == (0, "OK")
    assert _run(ctx, "reload", "sshd", ["--restart", "--unban"], []) == (0, "OK")
    assert ctx.reloads == [(None, False, False), ("sshd", True, True)]
    assert _run(ctx, "stop") == (0, None) and ctx.stops == 1


@pytest.mark.parametrize(("command", "error"), [
    (("status", "nope"), ("nope",)),
    (("set", "nope", "banip", "192.0.2.9"), ("nope",)),
    (("get", "sshd", "nothing"), ("Invalid command (no get action or not yet implemented)",)),
    (("set", "sshd", "nothing", "5"),
     ("Invalid command 'nothing' (no set action or not yet implemented)",)),
    (("set", "sshd", "maxretry", "x"), ("invalid literal for int() with base 10: 'x'",)),
    (("get", "nope", "maxretry"), ("nope",)),
    (("frobnicate",), ("Invalid command",)),
    (("status", 5), ("Invalid command (every word must be text)",)),
    ((), ("Invalid command",)),
])
def test_errors_are_code_1_with_fail2bans_words(tmp_path: Path, command: tuple[Plain, ...],
                                                error: tuple[str, ...]) -> None:
    ctx = fake_context(tmp_path, "sshd")
    assert _run(ctx, *command) == (1, error)
    assert ctx.carried == []


def test_a_refused_manual_ban_bans_nothing(tmp_path: Path) -> None:
    ctx = fake_context(tmp_path, "sshd")
    code, error = _run(ctx, "set", "sshd", "banip", "192.0.2.9", "127.0.0.1")
    assert code == 1 and "loopback" in str(error)
    assert ctx.carried == [] and _run(ctx, "get", "sshd", "banip") == (0, [])


def test_get_and_set_answer_fail2bans_values(tmp_path: Path) -> None:
    ctx = fake_context(tmp_path, "sshd")
    assert _run(ctx, "get", "sshd", "maxretry") == (0, 3)
    assert _run(ctx, "set", "sshd", "maxretry", "5") == (0, 5)
    assert ctx.jails["sshd"].jail.spec.maxretry == 5
    assert _run(ctx, "set", "sshd", "bantime", "1h") == (0, 3600)
    assert _run(ctx, "set", "sshd", "addignoreip", "192.0.2.0/24", "198.51.100.1") == (
        0, ["192.0.2.0/24", "198.51.100.1"])
    assert _run(ctx, "get", "sshd", "datepattern") == (0, (None, "Default Detectors"))
    assert _run(ctx, "get", "sshd", "actions") == (0, ["dummy"])
    assert _run(ctx, "get", "loglevel") == (0, "INFO")
    assert _run(ctx, "set", "loglevel", "DEBUG") == (0, "DEBUG")
    assert _run(ctx, "get", "dbpurgeage") == (0, 86400)
    assert _run(ctx, "flushlogs") == (0, "rolled over")
    assert _run(ctx, "set", "sshd", "attempt", "192.0.2.3") == (0, 1)
    code, error = _run(ctx, "set", "dbfile", "/tmp/x")
    assert code == 1 and "Cannot change database when there are jails present" in str(error)
    assert _run(ctx, "set", "sshd", "idle", "on") == (0, True)
    code, error = _run(ctx, "set", "sshd", "action", "dummy", "ban")
    assert code == 1 and "not Python objects" in str(error)
    code, error = _run(ctx, "status", "sshd", "cymru")
    assert code == 1 and "Cymru" in str(error)
    assert _run(ctx, "status", "sshd", "basic") == _run(ctx, "status", "sshd")
    assert _run(ctx, "set", "sshd") == (1, ("Sorry but the command is invalid",))


def test_start_stop_and_add_a_jail(tmp_path: Path) -> None:
    ctx = fake_context(tmp_path, "sshd")
    assert _run(ctx, "stop", "sshd") == (0, None)
    assert _run(ctx, "status") == (0, [("Number of jail", 0), ("Jail list", "")])
    assert _run(ctx, "stop", "sshd") == (1, ("sshd",))  # fail2ban's unknown-jail error
    assert _run(ctx, "start", "sshd") == (0, None)
    assert "sshd" in ctx.jails
    code, error = _run(ctx, "add", "web", "polling")
    assert code == 1 and "jail.local" in str(error)
