"""The daemon commands of the CLI: arguments to a typed request, the response to output.

warden's own grammar (``status``, ``ban``, ``unban``, ``banned``, ``reload``, ``stop``, ``ping``)
and fail2ban-client's (``set JAIL banip ADDR``, ``get JAIL banned``, ``unban --all``, ...) both
become one of the typed requests of :mod:`warden.protocol`.
"""

from __future__ import annotations

import argparse
import ipaddress
from typing import TextIO

from warden.cli.client import Unreachable, call, socket_path
from warden.cli.render import Compat, exit_code, render, render_json
from warden.errors import ProtocolError, WardenError
from warden.protocol import (
    BannedRequest,
    BanRequest,
    PingRequest,
    ReloadRequest,
    Request,
    StatusRequest,
    StopRequest,
    UnbanRequest,
)

__all__ = ["CONTROL_COMMANDS", "UsageError", "request_for", "run_control"]

#: subcommands that talk to the daemon
CONTROL_COMMANDS = ("status", "ban", "unban", "banned", "reload", "stop", "ping", "set", "get")


class UsageError(WardenError):
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
            raise UsageError(f"{word!r} is not an IP address or network")
    return tuple(words)


def _set_get(args: argparse.Namespace) -> tuple[Request, Compat]:
    words: list[str] = list(args.words)
    if len(words) < 2:
        raise UsageError(f"{args.command}: expected JAIL and a property (e.g. "
                         f"'{args.command} sshd {'banip' if args.command == 'set' else 'banned'}')")
    jail, prop, rest = words[0], words[1].lower(), words[2:]
    if args.command == "set" and prop == "banip" and rest:
        return BanRequest(jail, _addresses(rest)), Compat.COUNT
    if args.command == "set" and prop == "unbanip" and rest:
        return UnbanRequest(jail, _addresses(rest)), Compat.COUNT
    if args.command == "get" and prop == "banned":
        return BannedRequest(_addresses(rest), jail), Compat.LIST
    if args.command == "get" and prop == "banip":
        return BannedRequest((), jail), Compat.WORDS
    raise UsageError(f"{args.command} {prop}: not supported (supported: set JAIL banip|unbanip "
                     "ADDR..., get JAIL banned [ADDR...], get JAIL banip)")


def request_for(args: argparse.Namespace) -> tuple[Request, Compat]:
    """The request a parsed daemon command stands for, and how to print its answer."""
    command = args.command
    if command == "status":
        return StatusRequest(args.jail, all=args.all, counts_only=args.count), Compat.NONE
    if command == "ping":
        return PingRequest(), Compat.NONE
    if command == "stop":
        return StopRequest(), Compat.NONE
    if command == "reload":
        return ReloadRequest(args.jail, restart=args.restart, unban=args.unban), Compat.NONE
    if command == "ban":
        if not args.addrs:
            raise UsageError("ban: give at least one address after the jail")
        return BanRequest(args.jail, _addresses(args.addrs), force=args.force), Compat.NONE
    if command == "banned":
        return BannedRequest(_addresses(args.addrs)), Compat.NONE
    if command == "unban":
        words: list[str] = list(args.words)
        if args.all:
            if words:
                raise UsageError("unban --all takes no addresses")
            return UnbanRequest(all=True), Compat.COUNT
        jail = None
        if words and not _is_address(words[0]):
            jail, words = words[0], words[1:]
        if not words:
            raise UsageError("unban: give addresses (unban [JAIL] ADDR...) or --all")
        return UnbanRequest(jail, _addresses(words)), Compat.NONE
    if command in ("set", "get"):
        return _set_get(args)
    raise UsageError(f"unknown command {command!r}")  # pragma: no cover - argparse refuses


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
    reload = make("reload", "re-read the configuration (jails whose settings did not change "
                            "keep their state)")
    reload.add_argument("jail", nargs="?", metavar="JAIL")
    reload.add_argument("--restart", action="store_true", help="rebuild the jail(s) from scratch")
    reload.add_argument("--unban", action="store_true", help="lift the reloaded jails' bans")
    reload.add_argument("--json", action="store_true", help="print JSON")
    for name in ("stop", "ping"):
        make(name, {"stop": "stop the daemon (bans stay)", "ping": "is the daemon alive?"}[name]
             ).add_argument("--json", action="store_true", help="print JSON")
    for name in ("set", "get"):
        grammar = make(name, f"fail2ban-client grammar: {name} JAIL PROPERTY [VALUE...]")
        grammar.add_argument("words", nargs="+", metavar="WORD")
        grammar.add_argument("--json", action="store_true", help="print JSON")


def run_control(args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    """Run one daemon command; return the exit code (3 when the daemon is unreachable)."""
    try:
        request, compat = request_for(args)
    except UsageError as exc:
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
    code = exit_code(response)
    text = render_json(response) if getattr(args, "json", False) else render(response, compat)
    print(text, file=stderr if code else stdout)
    return code
