"""pf (the FreeBSD default): an anchor per jail with a persistent table and a block rule.

For jail ``sshd`` with warden's defaults the anchor ``warden/sshd`` holds::

    table <warden-sshd> persist
    block quick log proto tcp from <warden-sshd> to any port { 22 }

With fail2ban's stock ``action.d/pf.conf`` the registry passes that file's parameters instead,
so the same jail gets fail2ban's anchor ``f2b/sshd`` and its lines::

    table <f2b-sshd> persist counters
    block quick proto tcp from <f2b-sshd> to any port { ssh }

Every part is a parameter: the anchor and table templates (``<name>`` is the jail), the pfctl
command and its options, the ``block`` words (``block log quick`` keeps ``log``), and the rule's
target after ``to`` (fail2ban's ``actiontype``: ``any port $port``, ``any``, or the user's own
text, where ``$port`` stands for the jail's ports in braces).

The user's pf.conf must evaluate the anchors: ``anchor "warden/*"`` (fail2ban: ``anchor
"f2b/*"``). A commit adds all of a jail's new addresses with one ``pfctl -T add`` (many
addresses) and then kills the states the banned addresses already had (``pfctl -k``), so an
established connection ends too. pf tables have no per-address timeouts: the daemon unbans.

Restart keeps bans: a table's contents are replaced whenever a ruleset defining it is loaded,
so once the table exists ``start`` reloads the anchor's filter rules only (``pfctl -R``).
This backend cannot run on Linux; its commands are checked against a recorded contract.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping, Sequence

from warden.backends.base import BanEntry, BaseBackend, JailRule, Network, UnbanEntry, parse_network
from warden.backends.runner import Command, Runner, SubprocessRunner
from warden.errors import BackendError

__all__ = ["JAIL", "PfBackend", "pf_settings"]

#: the placeholder for the jail's name in anchor and table templates (fail2ban's tag)
JAIL = "<name>"

_NAME = re.compile(r"[A-Za-z0-9_.-]+\Z")
_ANCHOR = re.compile(r"[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*\Z")
_PORT = re.compile(r"[A-Za-z0-9_-]+([:-][0-9]+)?\Z")
_PROTO = re.compile(r"[a-z0-9-]+\Z")
# pf keeps table names in a 32-byte buffer with its terminating NUL (PF_TABLE_NAME_SIZE)
_TABLE_MAX = 31


def _address(net: Network) -> str:
    return str(net.network_address) if net.prefixlen == net.max_prefixlen else str(net)


def _one_line(what: str, text: str) -> str:
    # a line break would smuggle a second rule (or a comment) into the anchor's ruleset
    if any(c in text for c in "\n\r#") or not text.strip():
        raise BackendError(f"pf: {what} {text!r} must be one non-empty line without '#'")
    return " ".join(text.split())


class PfBackend(BaseBackend):
    """Bans in pf tables inside one anchor per jail.

    ``anchor`` is either a parent anchor (``warden`` gives ``warden/<jail>``) or a template
    containing ``<name>`` (``f2b/<name>``); ``table`` a template (default ``<anchor>-<name>``).
    ``pfctl`` is the program with its options (without ``-a``). ``block`` the rule's words
    before ``proto``; ``log`` adds ``log`` to them. ``target`` is the text after ``to``
    (default ``any port $port``, or ``any`` for a rule without ports); ``$port`` becomes the
    jail's ports in braces. ``table_options`` follow ``table <NAME>`` (``persist``, or
    fail2ban's ``persist counters``).
    """

    name = "pf"

    def __init__(
        self, *, runner: Runner | None = None, anchor: str = "warden", log: bool = False,
        kill_states: bool = True, pfctl: str | Sequence[str] = "pfctl",
        table: str | None = None, block: str = "block quick", target: str | None = None,
        table_options: str = "persist",
    ) -> None:
        super().__init__()
        # nothing here raises for a bad parameter: the daemon creates backends before it can
        # report errors, so the values are checked where they are used (start, ruleset)
        self.anchor = anchor if JAIL in anchor or not anchor else f"{anchor}/{JAIL}"
        self.table_template = table or f"{anchor.partition('/')[0] or 'warden'}-{JAIL}"
        self.runner = runner or SubprocessRunner()
        self.log = log
        self.kill_states = kill_states
        self.pfctl = (pfctl,) if isinstance(pfctl, str) else tuple(pfctl)
        self.block = block
        self.target = target
        self.table_options = table_options

    def _block(self) -> str:
        words = _one_line("block", self.block).split()
        if words[0] != "block":
            raise BackendError(f"pf: block {self.block!r} must start with 'block'")
        if self.log and "log" not in words:
            words.append("log")
        return " ".join(words)

    def anchor_of(self, jail: str) -> str:
        """The anchor holding ``jail``'s table and rule."""
        if not _NAME.match(jail):
            raise BackendError(f"pf: jail name {jail!r} cannot name a pf table")
        if not self.anchor:
            raise BackendError(f"pf: pfctl = {' '.join(self.pfctl)!r} names no anchor (-a): "
                               "warden loads its rules into an anchor, never the main ruleset")
        anchor = self.anchor.replace(JAIL, jail)
        if not _ANCHOR.match(anchor):
            raise BackendError(f"pf: invalid anchor name {anchor!r}")
        return anchor

    def table(self, jail: str) -> str:
        """The pf table of ``jail``."""
        if not _NAME.match(jail):
            raise BackendError(f"pf: jail name {jail!r} cannot name a pf table")
        name = self.table_template.replace(JAIL, jail)
        if not _NAME.match(name) or len(name) > _TABLE_MAX:
            raise BackendError(f"pf: {name!r} cannot name a pf table "
                               f"(letters, digits, '_.-', at most {_TABLE_MAX} characters)")
        return name

    def _in(self, jail: str) -> tuple[str, ...]:
        return (*self.pfctl, "-a", self.anchor_of(jail))

    def _run(self, argv: tuple[str, ...], stdin: str | None = None) -> str:
        done = self.runner(Command(argv, stdin))
        if done.returncode != 0:
            lines = done.stderr.strip().splitlines()
            why = lines[-1] if lines else f"exit status {done.returncode}"
            raise BackendError(f"pf: {' '.join(argv[:5])} failed: {why}")
        return done.stdout

    def ruleset(self, rule: JailRule) -> str:
        """The anchor's ruleset for ``rule`` (what ``start`` loads): the table, then the rule.

        pf.conf(5) wants one statement per line, so they are two lines.
        """
        table = self.table(rule.jail)
        for proto in rule.protocols:
            if not _PROTO.match(proto):
                raise BackendError(f"pf: invalid protocol {proto!r}")
        for port in rule.ports:
            if not _PORT.match(port):
                raise BackendError(f"pf: invalid port {port!r}")
        if len(rule.protocols) == 1:
            proto = f" proto {rule.protocols[0]}"
        elif rule.protocols:
            proto = f" proto {{ {', '.join(rule.protocols)} }}"
        else:
            proto = ""
        if not self.pfctl or not self.pfctl[0]:
            raise BackendError("pf: the pfctl command is empty")
        block = self._block()
        options = _one_line("table options", self.table_options)
        target = None if self.target is None else _one_line("target", self.target)
        if target is None:
            target = "any port $port" if rule.ports and rule.protocols else "any"
        # no ports means every port: the inclusive range of all of them
        ports = ", ".join(p.replace("-", ":") for p in rule.ports) or "0:65535"
        target = target.replace("$port", f"{{ {ports} }}")
        return (f"table <{table}> {options}\n"
                f"{block}{proto} from <{table}> to {target}\n")

    def _start(self, rules: list[JailRule]) -> None:
        for rule in rules:
            ruleset = self.ruleset(rule)  # a bad parameter fails before pf is touched
            tables = self.runner(Command((*self._in(rule.jail), "-s", "Tables")))
            exists = tables.returncode == 0 and self.table(rule.jail) in tables.stdout.split()
            # -R: filter rules only, so an existing table (the bans) is not redefined empty
            load = ("-R", "-f", "-") if exists else ("-f", "-")
            self._run((*self._in(rule.jail), *load), ruleset)

    def _apply(self, bans: list[BanEntry], unbans: list[UnbanEntry], now: float) -> None:
        adds: dict[str, list[Network]] = {}
        for entry in bans:
            adds.setdefault(entry.jail, []).append(entry.network)
        dels: dict[str, list[Network]] = {}
        for gone in unbans:
            dels.setdefault(gone.jail, []).append(gone.network)
        for jail, nets in dels.items():
            self._run((*self._in(jail), "-t", self.table(jail), "-T", "delete",
                       *map(_address, nets)))
        for jail, nets in adds.items():
            self._run((*self._in(jail), "-t", self.table(jail), "-T", "add", *map(_address, nets)))
        if self.kill_states:
            seen: set[Network] = set()
            for nets in adds.values():
                for net in nets:
                    if net not in seen:
                        seen.add(net)
                        # states from the address; failure only means there were none
                        self.runner(Command((*self.pfctl, "-k", _address(net))))

    def banned(self, jail: str) -> set[Network]:
        """The addresses of the jail's table."""
        out = self._run((*self._in(jail), "-t", self.table(jail), "-T", "show"))
        return {parse_network(line.strip()) for line in out.splitlines() if line.strip()}

    def _flush(self, jail: str) -> None:
        self._run((*self._in(jail), "-t", self.table(jail), "-T", "flush"))

    def _stop(self, remove: bool) -> None:
        if remove:
            for jail in self.jails:
                self._run((*self._in(jail), "-F", "rules"))
                self._run((*self._in(jail), "-t", self.table(jail), "-T", "kill"))


# -- fail2ban's action parameters ---------------------------------------------------------------
_TAG = re.compile(r"<([A-Za-z0-9_/-]+)>")
_SHELLISH = re.compile(r"[|;&`$()<>]")
_TRUE = ("1", "yes", "true", "on")


def _expand(text: str, options: Mapping[str, str], jail: str, depth: int = 0) -> str:
    """``text`` with the action's tags replaced as fail2ban's reader would (``<port>`` is left
    to the backend as ``$port``, which pf needs in braces)."""
    def one(found: re.Match[str]) -> str:
        key = found.group(1).removeprefix("known/")
        if key == "name":
            return jail
        if key == "port":
            return "$port"
        value = options.get(key)
        if value is None or depth > 8:
            return found.group(0)
        return _expand(value, options, jail, depth + 1)
    return _TAG.sub(one, text)


def _ban_command(actionban: str) -> tuple[list[str], str] | None:
    """The pfctl words and the table of a resolved ``<pfctl> -t TABLE -T add <ip>``."""
    line = actionban.strip()
    if not line or "\n" in line:
        return None
    try:
        words = shlex.split(line)
    except ValueError:
        return None
    if "-t" not in words:
        return None
    at = words.index("-t")
    if at == 0 or words[at + 2:] != ["-T", "add", "<ip>"]:
        return None
    command = words[:at]
    if any(_SHELLISH.search(word) for word in command):
        return None  # a shell construct: not a plain pfctl command to take over
    return command, words[at + 1]


def _split_anchor(words: Sequence[str]) -> tuple[tuple[str, ...], str]:
    program: list[str] = []
    anchor = ""
    rest = iter(words)
    for word in rest:
        if word == "-a":
            anchor = next(rest, "")
        elif word.startswith("-a") and len(word) > 2:
            anchor = word[2:]
        else:
            program.append(word)
    return tuple(program), anchor


def pf_settings(options: Mapping[str, str], jail: str) -> tuple[dict[str, object], bool]:
    """:class:`PfBackend` keyword arguments from a pf action's options, and "all ports?".

    ``options`` are ``ActionConfig.options`` of fail2ban's stock ``action.d/pf.conf`` or of
    warden's own: every parameter counts. The pfctl command (with ``-a ANCHOR``) and the table
    come from the resolved ``actionban`` (``<pfctl> -t <tablename>-<name> -T add <ip>``), so
    whatever ``pfctl`` and ``tablename`` say is what is used; ``block``, ``actiontype`` (with
    ``multiport`` and ``allports``), ``log`` and warden's ``type`` shape the rule. Anchor and
    table become templates (the jail's name as ``<name>``) so jails with equal parameters
    share one backend.
    """
    def opt(key: str, default: str) -> str:
        value = options.get(key)
        return default if value is None or not value.strip() else value.strip()

    found = _ban_command(options.get("actionban", ""))
    if found is not None:
        command, table = found
    else:
        # no plain actionban to read them from: the parameters, anchors named like the tables
        prefix = _expand(opt("tablename", "warden"), options, jail)
        pfctl = _expand(opt("pfctl", f"pfctl -a {prefix}/{JAIL}"), options, jail)
        try:
            command = shlex.split(pfctl)
        except ValueError:
            command = [pfctl]
        table = f"{prefix}-{jail}"
    program, anchor = _split_anchor(command)
    kind = opt("type", "")
    if kind == "allports":
        target = "any"
    elif kind == "multiport":
        target = "any port $port"
    else:
        target = _expand(opt("actiontype", "<multiport>"), options, jail)
        if target == "<multiport>":  # an action file without fail2ban's [Init] entries
            target = "any port $port"
    settings: dict[str, object] = {
        "pfctl": shlex.join(program),
        "anchor": "/".join(JAIL if part == jail else part for part in anchor.split("/")),
        "table": table.replace(jail, JAIL),
        "block": " ".join(_expand(opt("block", "block quick"), options, jail).split()),
        "log": opt("log", "no").lower() in _TRUE,
        "target": " ".join(target.split()),
        "table_options": "persist counters",
    }
    return settings, "$port" not in target
