"""Turning a daemon response into what the user reads: fail2ban-client's layout, or JSON.

What is printed depends on the response's type only; ``compat`` selects fail2ban-client's
terse forms for the commands of its grammar (``set JAIL banip`` prints a count, ``get JAIL
banned`` a list) so existing scripts keep parsing the output.
"""

from __future__ import annotations

import json
from enum import Enum

from warden.protocol import (
    BannedReply,
    BanReply,
    DoneReply,
    FailedReply,
    FleetInfo,
    JailStatusReply,
    OptionReply,
    PongReply,
    Response,
    ServerStatusReply,
    SourceInfo,
    UnbanReply,
    VersionReply,
    by_end,
    encode,
    with_time,
)

__all__ = ["Compat", "exit_code", "render", "render_json"]


class Compat(Enum):
    """Which fail2ban-client form to print (``NONE``: warden's own)."""

    NONE = "none"
    COUNT = "count"          # set JAIL banip/unbanip, unban --all: a number
    LIST = "list"            # get JAIL banned: a Python-style list
    WORDS = "words"          # get JAIL banip: addresses separated by spaces
    WITH_TIME = "with-time"  # get JAIL banip --with-time: a line per ban with its times
    FLAGS = "flags"          # get JAIL banned ADDR...: 1 or 0 per address
    REPORT = "report"        # set JAIL unbanip --report-absent: an address not banned fails
    IF_EXISTS = "if-exists"  # reload --if-exists JAIL: a jail that is not there is no error
    OPTION = "option"        # the other get/set forms: the value as fail2ban-client prints it


def exit_code(response: Response) -> int:
    """0 for success, 2 for a request the daemon calls wrong (or refuses without ``--force``),
    1 for other failures."""
    if isinstance(response, FailedReply):
        return 2 if response.reason in ("usage", "refused") else 1
    return 0


def render_json(response: Response) -> str:
    """The response as one JSON object (its ``kind`` and fields)."""
    data = json.loads(encode(response))
    del data["v"]
    return json.dumps(data, indent=2)


def _file(source: SourceInfo) -> str:
    if source.state == "ok":
        return source.path
    detail = f": {source.error}" if source.error else ""
    return f"{source.path} ({source.state}{detail})"


def _source_leaf(status: JailStatusReply) -> tuple[str, str]:
    """fail2ban's last filter line: ``File list``, or ``Journal matches`` for a journal jail
    (with the journal's state after it when it is not reading)."""
    if status.journal_matches is None:
        return ("File list", " ".join(_file(f) for f in status.files))
    trouble = [f for f in status.files if f.state != "ok"]
    state = "".join(f" ({f.state}{': ' + f.error if f.error else ''})" for f in trouble[:1])
    return ("Journal matches", status.journal_matches + state)


def _tree(title: str, branches: list[tuple[str, list[tuple[str, str]]]]) -> list[str]:
    lines = [title]
    for n, (name, leaves) in enumerate(branches):
        last = n == len(branches) - 1
        lines.append(f"{'`-' if last else '|-'} {name}")
        indent = "   " if last else "|  "
        for m, (key, value) in enumerate(leaves):
            lines.append(f"{indent}{'`-' if m == len(leaves) - 1 else '|-'} {key}:\t{value}")
    return lines


def _jail_status(status: JailStatusReply) -> str:
    actions = [
        ("Currently banned", str(status.currently_banned)),
        ("Total banned", str(status.total_banned)),
    ]
    if status.banned is not None:  # None: the counts were asked for (status --count)
        actions.append(("Banned IP list", " ".join(status.banned)))
    if status.fleet_bans is not None:  # after the list, whose text scripts parse
        total = sum(origin.bans for origin in status.fleet_bans)
        hosts = ", ".join(f"{origin.host}: {origin.bans}" for origin in status.fleet_bans)
        actions.append(("Fleet bans", f"{total} (from {hosts})" if hosts else "0"))
    if status.escalated is not None:  # warden's own options (issue 14): only when set
        actions.append(("Escalated networks", str(status.escalated)))
    if status.trusted is not None:
        actions.append(("Trusted after a login", str(status.trusted)))
    return "\n".join(_tree(f"Status for the jail: {status.name}", [
        ("Filter", [
            ("Currently failed", str(status.currently_failed)),
            ("Total failed", str(status.total_failed)),
            _source_leaf(status),
        ]),
        ("Actions", actions),
    ]))


def _fleet(fleet: FleetInfo) -> str:
    """The fleet block printed after fail2ban's ``Status`` lines."""
    connected = "yes" if fleet.connected else "no" + (f" ({fleet.error})" if fleet.error
                                                       else "")
    peers = f"{len(fleet.peers)} ({', '.join(fleet.peers)})" if fleet.peers else "0"
    return "\n".join([
        f"Fleet: {fleet.name}",
        f"|- Connected:\t{connected}",
        f"|- Peers:\t{peers}",
        f"|- Lag:\t{fleet.lag:.1f} s",
        f"|- Outbox:\t{fleet.outbox}",
        f"`- Entries:\t{fleet.published} published, {fleet.applied} applied, "
        f"{fleet.refused} refused"])


def _left(seconds: float | None) -> str:
    if seconds is None:
        return "permanent"
    whole = int(seconds + 0.5)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def _banned(response: BannedReply, compat: Compat, now: float) -> str:
    if compat is Compat.WITH_TIME:
        return "\n".join(with_time(ban, now) for ban in by_end(response.bans))
    if compat is Compat.WORDS:
        return " ".join(ban.addr for ban in by_end(response.bans))
    addrs = [ban.addr for ban in response.bans]
    if compat is Compat.LIST:
        return "[" + ", ".join(repr(a) for a in addrs) + "]"
    if not response.bans:
        return "no address is banned"
    width = max(len(a) for a in addrs)
    return "\n".join(f"{b.addr:<{width}}  {b.jail}  {_left(b.remaining)}"
                     + (f"  from {b.origin}" if b.origin is not None else "")
                     for b in response.bans)


def render(response: Response, compat: Compat = Compat.NONE, *, now: float = 0.0) -> str:
    """The text to print for ``response`` (a :class:`FailedReply` gives the error line);
    ``now`` is the time ``get JAIL banip --with-time`` computes the ends from."""
    match response:
        case PongReply():
            return "Server replied: pong"
        case VersionReply(version=version):
            return version
        case ServerStatusReply(jails=jails, details=details, fleet=fleet):
            text = "\n".join(["Status", f"|- Number of jail:\t{len(jails)}",
                              f"`- Jail list:\t{', '.join(jails)}"])
            return "\n".join([text, *(_jail_status(d) for d in details),
                              *([] if fleet is None else [_fleet(fleet)])])
        case JailStatusReply():
            return _jail_status(response)
        case BanReply(jail=jail, banned=banned, already=already):
            if compat is Compat.COUNT:
                return str(len(banned))
            parts = [f"{jail}: banned {len(banned)}"]
            if already:
                parts.append(f"already banned: {' '.join(already)}")
            return "; ".join(parts)
        case UnbanReply(count=count, not_banned=missing):
            if compat is Compat.COUNT:
                return str(count)
            text = f"unbanned {count}"
            return text + (f"; not banned: {' '.join(missing)}" if missing else "")
        case BannedReply():
            return _banned(response, compat, now)
        case DoneReply(message=message):
            return message or "OK"
        case FailedReply(message=message, reason="refused") if compat is Compat.COUNT:
            # only `set JAIL banip` asks for a ban in this form; its grammar cannot insist
            return (f"{message}\nwarden: 'set JAIL banip' has no force option; "
                    "run 'warden ban JAIL ADDR... --force' instead")
        case FailedReply(message=message):
            return message
        case OptionReply():
            return response.value
    return render_json(response)  # a reply this client has no layout for yet
