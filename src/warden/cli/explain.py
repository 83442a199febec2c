"""``warden explain ADDR [--json]``: why the daemon bans an address, jail by jail.

For each jail that bans the address, counts failures of it, or kept the lines of an earlier
ban of it: the ban (since, until, time left, which ban of the address it is), how its ban
time was computed (bantime.increment, with the arithmetic), the log lines that led to it with
the failregex that matched each, the failures counted now against maxretry, and what the
ignore rules said. Exit codes: 0 (also when no jail knows the address), 2 for an argument
that is no address, 3 when the daemon cannot be reached.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from typing import TextIO

from warden.cli.client import Unreachable, call, socket_path
from warden.errors import ProtocolError
from warden.protocol import ExplainReply, ExplainRequest, FailedReply, JailExplanation

__all__ = ["add_explain_parser", "render_explanation", "run_explain"]


def add_explain_parser(sub: argparse._SubParsersAction,  # type: ignore[type-arg]
                       common: object) -> None:
    """Add ``explain`` to the subcommand parser ``sub`` (``common`` adds ``-c``/``--socket``)."""
    text = "why an address is banned (or how far it is from a ban), jail by jail"
    parser: argparse.ArgumentParser = sub.add_parser("explain", help=text, description=text)
    common(parser)  # type: ignore[operator]
    parser.add_argument("addr", metavar="ADDR", help="an IP address or network")
    parser.add_argument("--json", action="store_true", help="one JSON object")


def _when(epoch: float | None) -> str:
    if epoch is None:
        return "no date"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(epoch))


def _span(seconds: float | None) -> str:
    if seconds is None or seconds < 0:
        return "for ever"
    rest = round(seconds)
    parts = []
    for unit, size in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if rest >= size:
            parts.append(f"{rest // size}{unit}")
            rest %= size
    return "".join(parts) or "0s"


def _regex_name(flt: int, regex: int) -> str:
    # numbered from 1 as fail2ban-regex and `warden regex` list them
    return f"failregex {regex + 1}" if flt == 0 else f"filter {flt + 1} failregex {regex + 1}"


def _jail(item: JailExplanation) -> list[str]:
    out: list[str] = []
    if item.banned:
        left = "" if item.remaining is None else f", {_span(item.remaining)} left"
        end = "never ends" if item.until is None else f"until {_when(item.until)}"
        out.append(f"[{item.jail}] banned since {_when(item.start)}, {end}{left}; "
                   f"ban #{item.count} of this address here")
        if item.network:
            out.append(f"  inside the banned network {item.network}"
                       + (", escalated:" if item.members else ""))
        elif item.members:
            out.append("  escalated:")
        if item.members:
            out.append(f"    {len(item.members)} of its addresses banned within findtime "
                       f"{_span(item.findtime)}: {', '.join(item.members)}")
        out.append(f"  ban time {_span(item.bantime)} ({item.rule}):")
        out += [f"    {step}" for step in item.steps]
    else:
        more = max(item.maxretry - item.failures, 0)
        out.append(f"[{item.jail}] not banned: {item.failures} failure(s) within findtime "
                   f"{_span(item.findtime)}; {more} more ban it (maxretry "
                   f"{item.maxretry})")
        if item.start is not None:
            out.append(f"  banned before: ban #{item.count} at {_when(item.start)} for "
                       f"{_span(item.bantime)}")
    if item.banned and item.failures:
        out.append(f"  failures counted since: {item.failures} (maxretry {item.maxretry})")
    if item.matches:
        out.append(f"  matched lines ({len(item.matches)}, kept in the store):")
        patterns: dict[tuple[int, int], str] = {}
        for m in item.matches:
            if m.regex is None:
                which = "part of a multi-line failure"
            else:
                patterns.setdefault((m.filter, m.regex), m.pattern)
                which = _regex_name(m.filter, m.regex)
            out.append(f"    {_when(m.time)}  {which}: {m.line}")
        for (flt, regex), pattern in sorted(patterns.items()):
            out.append(f"  {_regex_name(flt, regex)} = {pattern}")
    elif item.banned:
        out.append("  matched lines: none kept (a manual or fleet ban, or dbmaxmatches = 0)")
    out.append(f"  next ban would last {_span(item.next_bantime)}")
    out.append("  ignore rules: " + "; ".join(f"{r.rule}: {r.detail}" for r in item.ignore))
    return out


def render_explanation(reply: ExplainReply) -> str:
    """The text of ``reply``."""
    if not reply.jails:
        return f"{reply.addr}: no jail bans it, counts failures of it or remembers a ban of it"
    lines = [reply.addr]
    for item in reply.jails:
        lines += _jail(item)
    return "\n".join(lines)


def run_explain(args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    """Ask the daemon to explain ``args.addr`` and print the answer."""
    path = socket_path(args.config_dir, args.socket)
    try:
        answer = call(path, ExplainRequest(args.addr))
    except Unreachable as exc:
        print(f"warden: {exc}", file=stderr)
        return 3
    except ProtocolError as exc:
        print(f"warden: {exc}", file=stderr)
        return 1
    if isinstance(answer, FailedReply):
        print(f"warden: {answer.message}", file=stderr)
        return 2 if answer.reason == "usage" else 1
    if not isinstance(answer, ExplainReply):
        print(f"warden: unexpected answer {answer.kind!r}", file=stderr)
        return 1
    if args.json:
        print(json.dumps(dataclasses.asdict(answer)), file=stdout)
    else:
        print(render_explanation(answer), file=stdout)
    return 0
