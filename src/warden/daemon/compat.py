"""fail2ban's commands as warden's typed requests, and the answers as fail2ban's values.

fail2ban's client sends a command as a list of words (``["set", "sshd", "banip", "192.0.2.9"]``)
and formats the server's raw result itself (``status`` trees, ban lists, counts). :func:`answer`
turns the words into the same typed requests warden's own client sends, lets the one request
handler carry them out, and returns the result fail2ban's server would have returned, pickled
by :mod:`warden.daemon.f2bproto`.

The forms served are those a script or a monitoring exporter uses to read and drive the
daemon: ``ping``, ``echo``, ``server-status``, ``version``, ``status [JAIL [FLAVOR]]``,
``set JAIL banip|unbanip [--report-absent] IP...``, ``get JAIL banip [--with-time|SEP]``,
``get JAIL banned [IP...]``, ``banned [IP...]``, ``unban --all|IP...``, ``reload [JAIL|--all]``
and ``stop``. Anything else is answered with fail2ban's "Invalid command" error.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from warden import __version__
from warden.daemon.f2bproto import Plain, dump_error, dump_reply
from warden.protocol import (
    CYMRU_REFUSAL,
    SERVER_OPTIONS,
    BanInfo,
    BannedReply,
    BannedRequest,
    BanReply,
    BanRequest,
    DoneReply,
    FailedReply,
    FlushLogsRequest,
    JailControlRequest,
    JailGetRequest,
    JailSetRequest,
    JailStatusReply,
    OptionReply,
    ReloadRequest,
    Request,
    Response,
    ServerGetRequest,
    ServerSetRequest,
    ServerStatusReply,
    StatusRequest,
    StopRequest,
    UnbanReply,
    UnbanRequest,
    VersionReply,
    VersionRequest,
    by_end,
    with_time,
)

__all__ = ["Handler", "answer", "fail2ban_status", "with_time"]

Handler = Callable[[Request], Awaitable[Response]]


class _Refused(Exception):
    """A command answered with fail2ban's error: ``kind`` as :func:`dump_error` takes it."""

    def __init__(self, message: str, kind: str = "failed") -> None:
        super().__init__(message)
        self.kind = kind


def fail2ban_status(status: JailStatusReply) -> Plain:
    """``status JAIL`` as fail2ban's server returns it (its client draws the tree)."""
    actions: list[Plain] = [("Currently banned", status.currently_banned),
                            ("Total banned", status.total_banned)]
    if status.banned is not None:
        actions.append(("Banned IP list", list(status.banned)))
    source: Plain = ("File list", [f.path for f in status.files]) \
        if status.journal_matches is None else ("Journal matches", [status.journal_matches])
    return [("Filter", [("Currently failed", status.currently_failed),
                        ("Total failed", status.total_failed),
                        source]),
            ("Actions", actions)]


async def _ask(handler: Handler, request: Request) -> Response:
    response = await handler(request)
    if isinstance(response, FailedReply):
        raise _Refused(response.message)
    return response


async def _jails(handler: Handler) -> tuple[str, ...]:
    response = await _ask(handler, StatusRequest())
    assert isinstance(response, ServerStatusReply)
    return response.jails


async def _jail(handler: Handler, name: str) -> str:
    """``name`` if the daemon runs such a jail (else fail2ban's unknown-jail error)."""
    if name not in await _jails(handler):
        raise _Refused(name, "unknown-jail")
    return name


async def _bans(handler: Handler, jail: str | None) -> list[BanInfo]:
    response = await _ask(handler, BannedRequest((), jail))
    assert isinstance(response, BannedReply)
    return list(response.bans)


async def _status(handler: Handler, words: Sequence[str]) -> Plain:
    if not words:
        jails = sorted(await _jails(handler))
        return [("Number of jail", len(jails)), ("Jail list", ", ".join(jails))]
    if len(words) > 2:
        raise _Refused("Invalid command (no status)")
    name = await _jail(handler, words[0])
    flavor = words[1] if len(words) == 2 else "basic"
    if flavor == "cymru":
        raise _Refused(CYMRU_REFUSAL)
    short = flavor == "short"
    response = await _ask(handler, StatusRequest(name, counts_only=short))
    assert isinstance(response, JailStatusReply)
    return fail2ban_status(response)


async def _option(handler: Handler, request: Request) -> Plain:
    """The value of an :class:`OptionReply` as fail2ban's server returns it."""
    response = await _ask(handler, request)
    assert isinstance(response, OptionReply)
    value = response.decoded()
    if response.option == "datepattern" and isinstance(value, list):
        return tuple(value)  # fail2ban answers a (pattern, name) pair
    return value  # type: ignore[return-value]  # JSON values are plain


async def _set(handler: Handler, words: Sequence[str]) -> Plain:
    if words and words[0] in SERVER_OPTIONS:
        if len(words) < 2:
            raise _Refused("Sorry but the command is invalid", "invalid")
        return await _option(handler, ServerSetRequest(words[0], tuple(words[1:])))
    if len(words) < 2:
        raise _Refused("Sorry but the command is invalid", "invalid")
    name = await _jail(handler, words[0])
    addrs = tuple(words[2:])
    if words[1] not in ("banip", "unbanip"):
        if words[1] not in ("attempt",) and not addrs:
            raise _Refused("Sorry but the command is invalid", "invalid")
        return await _option(handler, JailSetRequest(name, words[1], addrs))
    if words[1] == "banip":
        response = await _ask(handler, BanRequest(name, addrs))
        assert isinstance(response, BanReply)
        return len(response.banned)
    report = bool(addrs) and addrs[0] == "--report-absent"
    response = await _ask(handler, UnbanRequest(name, addrs[1:] if report else addrs))
    assert isinstance(response, UnbanReply)
    if report and response.not_banned:
        raise _Refused(f"not banned: {list(response.not_banned)!r}")
    return response.count


async def _get(handler: Handler, words: Sequence[str], now: float) -> Plain:
    if words and words[0] in SERVER_OPTIONS:
        return await _option(handler, ServerGetRequest(words[0]))
    if len(words) < 2:
        raise _Refused("Sorry but the command is invalid", "invalid")
    name = await _jail(handler, words[0])
    if words[1] not in ("banip", "banned"):
        return await _option(handler, JailGetRequest(name, words[1], tuple(words[2:])))
    bans = by_end(await _bans(handler, name))
    if words[1] == "banip":
        if words[2:3] == ["--with-time"]:
            return [with_time(ban, now) for ban in bans]
        return [ban.addr for ban in bans]  # a separator is the client's business
    asked = words[2:]
    held = {ban.addr for ban in bans}
    if not asked:
        return [ban.addr for ban in bans]
    flags: list[Plain] = [1 if addr in held else 0 for addr in asked]
    return flags[0] if len(flags) == 1 else flags


async def _banned(handler: Handler, words: Sequence[str]) -> Plain:
    jails = await _jails(handler)
    bans = by_end(await _bans(handler, None))
    if not words:
        return [{name: [b.addr for b in bans if b.jail == name]} for name in jails]
    return [[name for name in jails if any(b.jail == name and b.addr == addr for b in bans)]
            for addr in words]


async def _unban(handler: Handler, words: Sequence[str]) -> Plain:
    request = UnbanRequest(all=True) if list(words) == ["--all"] else \
        UnbanRequest(None, tuple(words))
    response = await _ask(handler, request)
    assert isinstance(response, UnbanReply)
    return response.count


async def _reload(handler: Handler, words: Sequence[Plain]) -> Plain:
    # fail2ban's client sends ["reload", JAIL|"--all", OPTIONS, STREAM]; warden reads its own
    # configuration again, so the stream of the client's reading is not needed
    target = words[0] if words and isinstance(words[0], str) else "--all"
    raw = words[1] if len(words) > 1 else []
    options = [o for o in raw if isinstance(o, str)] if isinstance(raw, list) else []
    jail = None if target == "--all" else target
    response = await _ask(handler, ReloadRequest(jail, restart="--restart" in options,
                                                 unban="--unban" in options))
    assert isinstance(response, DoneReply)
    return "OK"


async def _run(handler: Handler, command: list[Plain], now: float) -> Plain:
    name, rest = str(command[0]), command[1:]
    words = [w for w in rest if isinstance(w, str)]
    match name:
        case "ping":
            return "pong"
        case "echo":
            return list(rest)
        case "server-status":
            return "Server ready"
        case "version":
            response = await _ask(handler, VersionRequest())
            return response.version if isinstance(response, VersionReply) else __version__
        case "status":
            return await _status(handler, words)
        case "set":
            return await _set(handler, words)
        case "get":
            return await _get(handler, words, now)
        case "banned":
            return await _banned(handler, words)
        case "unban" if rest:
            return await _unban(handler, words)
        case "reload":
            return await _reload(handler, list(rest))
        case "stop" if not rest:
            await _ask(handler, StopRequest())
            return None
        case "stop" | "start" if len(words) == 1:
            jail = words[0] if name == "start" else await _jail(handler, words[0])
            return await _option(handler, JailControlRequest(name, jail))
        case "add" if words:
            backend = words[1] if len(words) > 1 else "auto"
            return await _option(handler, JailControlRequest("add", words[0], backend))
        case "flushlogs":
            return await _option(handler, FlushLogsRequest())
    raise _Refused("Invalid command")


async def answer(handler: Handler, command: Plain, now: float) -> bytes:
    """The pickled answer to one fail2ban ``command`` (already unpickled), carried out by
    ``handler``; ``now`` is the daemon's clock (``--with-time`` shows ends by it)."""
    if not isinstance(command, list) or not command or not isinstance(command[0], str):
        return dump_error("Invalid command")
    if command[0] not in ("reload", "echo") and not all(isinstance(w, str) for w in command):
        return dump_error("Invalid command (every word must be text)")
    try:
        return dump_reply(await _run(handler, command, now))
    except _Refused as exc:
        return dump_error(str(exc), exc.kind)
