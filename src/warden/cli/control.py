"""The daemon commands of the CLI: arguments to a typed request, the response to output.

warden's own grammar (``status``, ``ban``, ``unban``, ``banned``, ``reload``, ``stop``, ``ping``)
and fail2ban-client's (``set JAIL banip ADDR``, ``get JAIL banned``, ``unban --all``, ...) both
become one of the typed requests of :mod:`warden.protocol`.
"""

from __future__ import annotations

import argparse
import ipaddress
import time
from typing import TextIO

from warden.cli.client import Unreachable, call, socket_path
from warden.cli.f2bforms import option_text
from warden.cli.render import Compat, exit_code, render, render_json
from warden.errors import ProtocolError, WardenError
from warden.protocol import (
    CYMRU_REFUSAL,
    SERVER_OPTIONS,
    BannedReply,
    BannedRequest,
    BanRequest,
    DoneReply,
    FailedReply,
    FlushLogsRequest,
    JailControlRequest,
    JailGetRequest,
    JailSetRequest,
    OptionReply,
    PingRequest,
    ReloadRequest,
    Request,
    Response,
    ServerGetRequest,
    ServerSetRequest,
    StatusRequest,
    StopRequest,
    UnbanReply,
    UnbanRequest,
    by_end,
)

__all__ = ["CONTROL_COMMANDS", "GrammarError", "fail2ban_words", "request_for", "run_control"]

#: subcommands that talk to the daemon
CONTROL_COMMANDS = ("status", "ban", "unban", "banned", "reload", "stop", "ping", "set", "get",
                    "start", "add", "restart", "flushlogs", "dump")


class GrammarError(WardenError):
    """The command line names something the daemon grammar does not have."""


def _is_address(text: str) -> bool:
    try:
        ipaddress.ip_network(text, strict=False)
    except ValueError:
        return False
    return True


def _addresses(words: list[str]) -> tuple[str, ...]:
    for word in words:
        if not _is_address(word):
            raise GrammarError(f"{word!r} is not an IP address or network")
    return tuple(words)


def fail2ban_words(args: argparse.Namespace) -> list[str]:
    """The fail2ban-client command the arguments stand for (how its answer is printed)."""
    command = args.command
    if command in ("set", "get"):
        words = [command, *args.words, *(["--report-absent", *args.report_absent]
                                         if getattr(args, "report_absent", None) is not None
                                         else [])]
        if getattr(args, "with_time", False):
            words.append("--with-time")
        return words
    if command in ("start", "stop", "add"):
        return [command, *([args.jail] if args.jail else []),
                *([args.backend] if getattr(args, "backend", None) else [])]
    return [command]


def _server_option(command: str, option: str, rest: list[str]) -> Request:
    if command == "get":
        return ServerGetRequest(option)
    if not rest:
        raise GrammarError(f"set {option}: give the value")
    return ServerSetRequest(option, tuple(rest))


def _set_get(args: argparse.Namespace) -> tuple[Request, Compat]:
    words: list[str] = list(args.words)
    command = args.command
    if words and words[0] in SERVER_OPTIONS:
        return _server_option(command, words[0], words[1:]), Compat.OPTION
    if len(words) < 2:
        raise GrammarError(f"{command}: expected JAIL and a property (e.g. "
                         f"'{command} sshd {'banip' if command == 'set' else 'banned'}'), "
                         f"or a setting of the server ({', '.join(SERVER_OPTIONS)})")
    reported = getattr(args, "report_absent", None)
    jail, prop, rest = words[0], words[1], [*words[2:], *(reported or [])]
    if command == "set" and prop == "banip":
        if not rest:
            raise GrammarError("set JAIL banip: give at least one address")
        return BanRequest(jail, _addresses(rest)), Compat.COUNT
    if command == "set" and prop == "unbanip":
        if not rest:
            raise GrammarError("set JAIL unbanip: give at least one address")
        report = Compat.COUNT if reported is None else Compat.REPORT
        return UnbanRequest(jail, _addresses(rest)), report
    if command == "get" and prop == "banned":
        return BannedRequest(_addresses(rest), jail), \
            Compat.FLAGS if rest else Compat.LIST
    if command == "get" and prop == "banip":
        if args.with_time:
            return BannedRequest((), jail), Compat.WITH_TIME
        return BannedRequest((), jail), Compat.WORDS
    if command == "set":
        if not rest and prop != "attempt":
            raise GrammarError(f"set {jail} {prop}: give the value")
        return JailSetRequest(jail, prop, tuple(rest)), Compat.OPTION
    return JailGetRequest(jail, prop, tuple(rest)), Compat.OPTION


def _status(args: argparse.Namespace) -> tuple[Request, Compat]:
    flavor = (args.flavor or "basic").lower()
    if args.jail is None and args.flavor:
        raise GrammarError("status FLAVOR: name the jail first (status JAIL FLAVOR)")
    if flavor == "cymru":
        raise GrammarError(CYMRU_REFUSAL)
    counts = args.count or flavor == "short"
    return StatusRequest(args.jail, all=args.all, counts_only=counts), Compat.NONE


def _reload(args: argparse.Namespace, *, restart: bool) -> tuple[Request, Compat]:
    if args.all and args.jail:
        raise GrammarError(f"{args.command}: give a jail or --all, not both")
    if restart and args.jail is None:
        raise GrammarError("restart: restarting the whole daemon is your service manager's "
                         "job (systemctl restart warden, service warden restart); "
                         "'restart JAIL' restarts one jail")
    compat = Compat.IF_EXISTS if args.if_exists else Compat.NONE
    return ReloadRequest(args.jail, restart=restart or args.restart, unban=args.unban), compat


def request_for(args: argparse.Namespace) -> tuple[Request, Compat]:
    """The request a parsed daemon command stands for, and how to print its answer."""
    command = args.command
    if command == "status":
        return _status(args)
    if command == "ping":
        return PingRequest(), Compat.NONE
    if command == "stop":
        if args.jail:
            return JailControlRequest("stop", args.jail), Compat.OPTION
        return StopRequest(), Compat.NONE
    if command in ("start", "add"):
        return JailControlRequest(command, args.jail, getattr(args, "backend", None)
                                  or "auto"), Compat.OPTION
    if command == "flushlogs":
        return FlushLogsRequest(), Compat.OPTION
    if command in ("reload", "restart"):
        return _reload(args, restart=command == "restart")
    if command == "ban":
        if not args.addrs:
            raise GrammarError("ban: give at least one address after the jail")
        return BanRequest(args.jail, _addresses(args.addrs), force=args.force), Compat.NONE
    if command == "banned":
        return BannedRequest(_addresses(args.addrs)), Compat.NONE
    if command == "unban":
        words: list[str] = list(args.words)
        if args.all:
            if words:
                raise GrammarError("unban --all takes no addresses")
            return UnbanRequest(all=True), Compat.COUNT
        jail = None
        if words and not _is_address(words[0]):
            jail, words = words[0], words[1:]
        if not words:
            raise GrammarError("unban: give addresses (unban [JAIL] ADDR...) or --all")
        return UnbanRequest(jail, _addresses(words)), Compat.NONE
    if command in ("set", "get"):
        return _set_get(args)
    raise GrammarError(f"unknown command {command!r}")  # pragma: no cover - argparse refuses


def add_control_parsers(sub: argparse._SubParsersAction,  # type: ignore[type-arg]
                        common: object) -> None:
    """Add the daemon commands to the subcommand parser ``sub``.

    ``common`` is called with each new parser to add ``-c``/``--socket``.
    """
    def make(name: str, text: str) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = sub.add_parser(name, help=text, description=text)
        common(parser)  # type: ignore[operator]
        return parser

    status = make("status", "jails, or one jail's failures and bans (fail2ban-client layout)")
    status.add_argument("jail", nargs="?", metavar="JAIL")
    status.add_argument("flavor", nargs="?", metavar="FLAVOR",
                        help="fail2ban's flavors: basic, short (counts only), all")
    status.add_argument("--all", action="store_true", help="every jail's status")
    status.add_argument("--json", action="store_true", help="print JSON")
    status.add_argument("--count", action="store_true",
                        help="counts only: leave out the banned list (fast with many bans)")
    ban = make("ban", "ban addresses in a jail now")
    ban.add_argument("jail", metavar="JAIL")
    ban.add_argument("addrs", nargs="*", metavar="ADDR")
    ban.add_argument("--force", action="store_true",
                     help="ban even a whole family, a prefix shorter than /8 (IPv4) or /32 "
                          "(IPv6), loopback or this host's own address")
    ban.add_argument("--json", action="store_true", help="print JSON")
    unban = make("unban", "lift bans (in one jail or every jail), or --all")
    unban.add_argument("words", nargs="*", metavar="[JAIL] ADDR")
    unban.add_argument("--all", action="store_true", help="lift every ban")
    unban.add_argument("--json", action="store_true", help="print JSON")
    banned = make("banned", "which jails ban these addresses (all bans if none given)")
    banned.add_argument("addrs", nargs="*", metavar="ADDR")
    banned.add_argument("--json", action="store_true", help="print JSON")
    for name, text in (("reload", "re-read the configuration (jails whose settings did not "
                                  "change keep their state)"),
                       ("restart", "restart one jail (reload --restart JAIL)")):
        reload = make(name, text)
        reload.add_argument("jail", nargs="?", metavar="JAIL")
        if name == "reload":
            reload.add_argument("--restart", action="store_true",
                                help="rebuild the jail(s) from scratch")
        reload.add_argument("--unban", action="store_true", help="lift the reloaded jails' bans")
        reload.add_argument("--all", action="store_true", help="every jail (the default)")
        reload.add_argument("--if-exists", action="store_true",
                            help="a jail that is not configured is no error")
        reload.add_argument("--json", action="store_true", help="print JSON")
    for name, text in (("start", "start a configured jail that was stopped"),
                       ("add", "fail2ban's 'add JAIL BACKEND' (warden builds jails from the "
                               "configuration and says so)")):
        control = make(name, text)
        control.add_argument("jail", metavar="JAIL")
        if name == "add":
            control.add_argument("backend", nargs="?", metavar="BACKEND")
        control.add_argument("--json", action="store_true", help="print JSON")
    make("dump", "print the configuration as fail2ban-client -d prints it (read here, "
                 "no daemon needed)")
    make("flushlogs", "reopen the log file (after a rotation)").add_argument(
        "--json", action="store_true", help="print JSON")
    stop = make("stop", "stop the daemon (bans stay), or one jail")
    stop.add_argument("jail", nargs="?", metavar="JAIL")
    stop.add_argument("--json", action="store_true", help="print JSON")
    make("ping", "is the daemon alive?").add_argument("--json", action="store_true",
                                                     help="print JSON")
    for name in ("set", "get"):
        grammar = make(name, f"fail2ban-client grammar: {name} JAIL PROPERTY [VALUE...]")
        grammar.add_argument("words", nargs="+", metavar="WORD")
        grammar.add_argument("--json", action="store_true", help="print JSON")
        if name == "set":
            # it takes the addresses after it: argparse cannot resume WORD after an option
            grammar.add_argument("--report-absent", nargs="*", default=None, metavar="ADDR",
                                 help="set JAIL unbanip: fail if an address was not banned")
        else:
            grammar.add_argument("--with-time", action="store_true",
                                 help="get JAIL banip: each ban with its start and end")


def _fail2ban_answer(request: Request, response: Response, compat: Compat) -> Response:
    """The answer as fail2ban-client would report it for the forms whose outcome it decides
    itself: 1/0 per address, an absent address reported, a missing jail forgiven."""
    if compat is Compat.FLAGS and isinstance(response, BannedReply) \
            and isinstance(request, BannedRequest):
        held = {ban.addr for ban in response.bans}
        flags = [1 if addr in held else 0 for addr in request.addrs]
        return OptionReply.of("banned", flags[0] if len(flags) == 1 else flags)
    if compat is Compat.WORDS and isinstance(response, BannedReply):
        # get JAIL banip [SEP]: fail2ban-client joins the list with SEP (a space by default)
        return OptionReply.of("banip", [ban.addr for ban in by_end(response.bans)])
    if compat is Compat.REPORT and isinstance(response, UnbanReply) and response.not_banned:
        return FailedReply(f"not banned: {list(response.not_banned)!r}")
    if compat is Compat.IF_EXISTS and isinstance(response, FailedReply) \
            and "does not exist" in response.message:
        return DoneReply("OK")  # --if-exists: a jail that is not there is no error
    return response


def run_control(args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    """Run one daemon command; return the exit code (3 when the daemon is unreachable)."""
    if args.command == "dump":  # offline: warden's own reading of the tree
        from warden.cli.dump import run_dump  # noqa: PLC0415 - reads the whole tree

        return run_dump(args.config_dir, stdout, stderr)
    try:
        request, compat = request_for(args)
    except GrammarError as exc:
        print(f"warden: {exc}", file=stderr)
        return 2
    path = socket_path(args.config_dir, args.socket)
    try:
        response = call(path, request)
    except Unreachable as exc:
        print(f"warden: {exc}", file=stderr)
        return 3
    except ProtocolError as exc:
        print(f"warden: {exc}", file=stderr)
        return 1
    response = _fail2ban_answer(request, response, compat)
    code = exit_code(response)
    if getattr(args, "json", False):
        text = render_json(response)
    elif isinstance(response, OptionReply):
        text = option_text(fail2ban_words(args), response.decoded())
    else:
        text = render(response, compat, now=time.time())
    print(text, file=stderr if code else stdout)
    return code
