"""fail2ban ``action.d/*.conf`` command actions, run unchanged but without shell injection.

:class:`CommandAction` takes the options :func:`warden.config.load_action` resolved
(``ActionConfig.options``: the ``action*`` commands with configuration tags substituted and
the ``[Init]`` values, ``name?family=inet6`` variants included) and runs them the way
fail2ban's server does:

- ``actionstart`` when the jail starts, or, with ``actionstart_on_demand`` (the default when
  the action has ``[Init?family=…]`` values), before the first ban of each address family;
- ``actionban``/``actionunban`` per address; when one fails and the action has an
  ``actioncheck``, the check runs, a failed check runs ``actionrepair`` (or stop + start) and
  the command is tried once more; ``actionrepair_on_unban`` allows the same for unbans;
- a ban of an address the action already bans runs nothing, or ``actionprolong`` if the
  action has one and the end time changed;
- ``norestored``: bans restored after a restart (``info["restored"]``) do not run actionban;
- ``actionflush`` removes all bans at once (without one, every ban is unbanned);
  ``actionstop`` at stop; ``timeout`` bounds every command (default 60 s).

Run-time values (``<ip>``, ``<family>``, ``<matches>``, ``<F-USER>``, ``<failures>``,
``<bantime>``…) never become shell text: they are exported as ``WARDEN_*`` environment
variables and the tags are replaced by quoted references to them (:mod:`shellvars`).
Configuration values (``<port>``, ``<chain>``, ``<dest>``…) are substituted as fail2ban does.
Unlike the native backends each ban is its own process, as in fail2ban.
"""

from __future__ import annotations

import functools
import ipaddress
import re
import socket
from collections.abc import Collection, Iterable, Mapping, Sequence

from warden.backends.base import (
    BanEntry,
    Held,
    JailRule,
    Network,
    Reconciled,
    UnbanEntry,
    parse_network,
)
from warden.backends.runner import Command, Completed, Runner, SubprocessRunner
from warden.backends.shellvars import splice_variables, variable_name
from warden.errors import BackendError

__all__ = ["RUNTIME_TAGS", "CommandAction", "action_info"]

#: tags whose values exist only when an action runs (from the ban and its log lines)
RUNTIME_TAGS = frozenset({
    "ip", "family", "ip-rev", "ip-host", "fid", "failures", "time", "bantime", "bancount",
    "matches", "restored", "ipmatches", "ipjailmatches", "ipfailures", "ipjailfailures",
    "raw-ticket", "fq-hostname", "sh-hostname", "jail.banned", "jail.banned_total",
    "jail.found", "jail.found_total",
})
_CONDITIONAL = re.compile(r"^\w+\?family=")
_TAG = re.compile(r"<([^ <>\n]+)>")
_MAX_DEPTH = 25
_MAX_LENGTH = 1_000_000
_TRUE = ("1", "on", "true", "yes")


def _is_runtime(tag: str) -> bool:
    return tag in RUNTIME_TAGS or tag.startswith("F-")


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, list | tuple):
        return "\n".join(_text(v) for v in value)
    return str(value)


def action_info(entry: BanEntry | UnbanEntry, now: float) -> dict[str, str]:
    """The run-time tag values of a ban: fail2ban's names, from ``entry.info`` and ``now``.

    ``info`` may hold ``failures``, ``matches`` (lines), ``fields`` (the failure's captures,
    ``user`` → ``<F-USER>``), ``time``, ``bantime``, ``bancount``, ``restored``,
    ``ipmatches``, ``ipjailmatches``, ``ipfailures``, ``ipjailfailures``, ``fid``.
    """
    net = entry.network
    address = str(net.network_address) if net.prefixlen == net.max_prefixlen else str(net)
    info: Mapping[str, object] = entry.info if isinstance(entry, BanEntry) else {}
    matches = _text(info.get("matches", ()))
    values = {
        "ip": address,
        "family": "inet4" if net.version == 4 else "inet6",
        "ip-rev": ipaddress.ip_address(net.network_address).reverse_pointer + ".",
        "ip-host": address,
        "fid": _text(info.get("fid", address)),
        "failures": _text(info.get("failures", 0)),
        "time": _text(info.get("time", now)),
        "bantime": _text(info.get("bantime", _bantime(entry, now))),
        "bancount": _text(info.get("bancount", 1)),
        "matches": matches,
        "restored": _text(bool(info.get("restored", False))),
        "ipmatches": _text(info.get("ipmatches", matches)),
        "ipjailmatches": _text(info.get("ipjailmatches", matches)),
        "ipfailures": _text(info.get("ipfailures", info.get("failures", 0))),
        "ipjailfailures": _text(info.get("ipjailfailures", info.get("failures", 0))),
        "raw-ticket": repr(dict(info)),
    }
    fields = info.get("fields", {})
    if isinstance(fields, Mapping):
        for key, value in fields.items():
            values["F-" + str(key).upper()] = _text(value)
    return values


@functools.cache
def _host_tag(tag: str) -> str:
    # looked up once, and only by an action that uses it (getfqdn may wait on DNS)
    if tag == "fq-hostname":
        return socket.getfqdn()
    if tag == "sh-hostname":
        return socket.gethostname().split(".")[0]
    return ""


def _bantime(entry: BanEntry | UnbanEntry, now: float) -> float:
    if isinstance(entry, BanEntry):
        return -1 if entry.until is None else round(entry.until - now)
    return 0


class CommandAction:
    """One fail2ban command action of one jail (``FirewallBackend`` protocol)."""

    def __init__(
        self, jail: str, name: str, options: Mapping[str, str], *, runner: Runner | None = None,
        shell: str = "/bin/sh",
    ) -> None:
        self.jail = jail
        self.name = name
        self.runner = runner or SubprocessRunner()
        self.shell = shell
        self.configure(options)
        self.started: set[str] = set()
        self.bans: dict[Network, BanEntry] = {}
        self._queue: list[BanEntry | UnbanEntry] = []

    def configure(self, options: Mapping[str, str]) -> None:
        """Run with ``options`` from now on (fail2ban-client's ``set JAIL action ACT
        PROPERTY VALUE``): the next commands use them; what is started and banned stays."""
        try:
            timeout = float(options.get("timeout", "60") or 60)
        except ValueError as exc:
            raise BackendError(
                f"action {self.name} of jail {self.jail}: timeout = {options['timeout']!r} "
                "is not a number of seconds") from exc
        self.options = dict(options)
        self.timeout = timeout
        conditional = any(_CONDITIONAL.match(key) for key in self.options)
        on_demand = self.options.get("actionstart_on_demand", "").strip().lower()
        self.on_demand = (on_demand in _TRUE) if on_demand else conditional
        self.families = ("inet4", "inet6") if conditional else ("",)
        self.norestored = self.options.get("norestored", "").strip().lower() in _TRUE
        self._cache: dict[tuple[str, str], str] = {}

    # -- commands -------------------------------------------------------------------------
    def command(self, option: str, family: str) -> str:
        """The text of ``option`` with configuration tags substituted for ``family``."""
        key = (option, family)
        if key not in self._cache:
            self._cache[key] = self._substitute(self.options.get(option, ""), family).strip()
        return self._cache[key]

    def _substitute(self, text: str, family: str) -> str:
        """Replace configuration tags (options and ``[Init]`` values, ``?family=`` variants
        first) until none is left; run-time and unknown tags stay."""
        condition = f"?family={family}" if family else None

        def value(match: re.Match[str]) -> str:
            tag = match.group(1)
            if _is_runtime(tag):
                return match.group(0)
            found = self.options.get(tag + condition) if condition else None
            if found is None:
                found = self.options.get(tag)
            return match.group(0) if found is None else found

        for _ in range(_MAX_DEPTH):
            done = _TAG.sub(value, text)
            if done == text:
                return done
            if len(done) > _MAX_LENGTH:
                break
            text = done
        raise BackendError(
            f"action {self.name} of jail {self.jail}: tags that refer to themselves or expand "
            "without end")

    def _execute(self, option: str, family: str, values: Mapping[str, str]) -> bool:
        text = self.command(option, family)
        if not text:
            return True
        script, used = splice_variables(text, _is_runtime)
        env = {variable_name(tag): values.get(tag, "") or _host_tag(tag) for tag in used}
        done: Completed = self.runner(Command(
            (self.shell, "-c", script, f"warden-{self.name}"), env=env, timeout=self.timeout))
        self.last = done
        return done.returncode == 0

    def _family_values(self, family: str) -> dict[str, str]:
        return {"family": family}

    def _fail(self, option: str, detail: str) -> BackendError:
        return BackendError(f"action {self.name} of jail {self.jail}: {option} failed: {detail}")

    def _why(self) -> str:
        done = getattr(self, "last", None)
        if done is None:
            return "unknown"
        lines = (done.stderr or done.stdout).strip().splitlines()
        return lines[-1] if lines else f"exit status {done.returncode}"

    # -- lifecycle ------------------------------------------------------------------------
    def _start_family(self, family: str) -> None:
        if not self._execute("actionstart", family, self._family_values(family)):
            raise self._fail("actionstart", self._why())
        self.started.add(family)

    def start(self, jails: Sequence[JailRule] = ()) -> None:
        """Run ``actionstart`` (unless started on demand); the rules come from the action."""
        if self.on_demand:
            return
        for family in self.families:
            if family not in self.started:
                self._start_family(family)

    def ban(self, entries: Iterable[BanEntry]) -> None:
        """Queue bans."""
        self._queue.extend(entries)

    def unban(self, entries: Iterable[UnbanEntry]) -> None:
        """Queue unbans."""
        self._queue.extend(entries)

    def _family_of(self, values: Mapping[str, str]) -> str:
        return values["family"] if self.families != ("",) else ""

    def _run_checked(self, option: str, family: str, values: Mapping[str, str]) -> None:
        if self._execute(option, family, values):
            return
        why = self._why()
        unban = option == "actionunban"
        may_repair = not unban or self.options.get(
            "actionrepair_on_unban", "").strip().lower() in _TRUE
        if not self.command("actioncheck", family) or not may_repair:
            raise self._fail(option, why)
        if not self._execute("actioncheck", family, values):
            if self.command("actionrepair", family):
                if not self._execute("actionrepair", family, values):
                    raise self._fail("actionrepair", self._why())
            else:
                self._execute("actionstop", family, values)
                self.started.discard(family)
                self._start_family(family)
        if not self._execute(option, family, values):
            raise self._fail(option, self._why())

    def commit(self, now: float) -> None:
        """Run the queued bans and unbans in order, one command each (fail2ban's model).

        Every entry is attempted; the first failure is raised after the others ran.
        """
        queue, self._queue = self._queue, []
        errors: list[BackendError] = []
        for entry in queue:
            try:
                self._one(entry, now)
            except BackendError as exc:
                errors.append(exc)
        if errors:
            raise errors[0]

    def _one(self, entry: BanEntry | UnbanEntry, now: float) -> None:
        values = action_info(entry, now)
        family = self._family_of(values)
        net = entry.network
        if isinstance(entry, BanEntry):
            if entry.until is not None and entry.until <= now:
                return
            before = self.bans.get(net)
            if before is not None and before.until != entry.until and self.command(
                    "actionprolong", family):
                self._run_checked("actionprolong", family, values)
            if before is not None or (self.norestored and entry.info.get("restored")):
                # already banned by this action: running actionban again would, for most
                # stock actions, insert a duplicate rule (fail2ban does not re-ban either)
                self.bans[net] = entry
                return
            if family not in self.started:
                self._start_family(family)
            self._run_checked("actionban", family, values)
            self.bans[net] = entry  # only once it worked: a retry runs actionban again
        else:
            if self.bans.pop(net, None) is None and net.version and family not in self.started:
                return
            self._run_checked("actionunban", family, values)

    def flush(self, jail: str | None = None) -> None:
        """``actionflush`` for every started family, or unban each ban if there is none."""
        families = [f for f in self.families if f in self.started]
        if any(self.command("actionflush", f) for f in families):
            for family in families:
                if not self._execute("actionflush", family, self._family_values(family)):
                    raise self._fail("actionflush", self._why())
            self.bans.clear()
        else:
            self.unban(UnbanEntry(self.jail, net) for net in list(self.bans))
            self.commit(0.0)

    def banned(self, jail: str) -> set[Network]:
        """The addresses this action banned (a shell action cannot be asked)."""
        return set(self.bans)

    def present(self, jail: str, now: float) -> dict[Network, Held]:
        """What this action banned (a shell action cannot be asked about time)."""
        return {net: Held() for net in self.bans}

    def reconcile(self, active: Iterable[BanEntry], now: float,
                  jails: Collection[str] | None = None) -> Reconciled:
        """Ban every active ban again as *restored* (``norestored`` actions skip them)."""
        added = []
        for entry in active:
            if entry.until is not None and entry.until <= now:
                continue
            restored = BanEntry(entry.jail, entry.address, entry.until,
                                {**entry.info, "restored": True})
            self.ban([restored])
            added.append((entry.jail, parse_network(entry.address)))
        self.commit(now)
        return Reconciled(tuple(added), ())

    def stop(self, *, remove: bool = False) -> None:
        """Run ``actionstop`` for each started family (as fail2ban does at jail stop)."""
        for family in sorted(self.started):
            if not self._execute("actionstop", family, self._family_values(family)):
                raise self._fail("actionstop", self._why())
        self.started.clear()
