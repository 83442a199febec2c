"""From fail2ban action names to warden's native backends.

``banaction = nftables-multiport`` (and ``banaction_allports``, ``action_``, ``action_mw``,
``action_mwl`` of jail.conf, which the config reader expands into action references) names an
``action.d`` file. :func:`native_action` maps the well-known names to a native backend and its
parameters; anything else, or an action given ``native=false``, runs as a
:class:`~warden.backends.commandaction.CommandAction`. The mail actions map to the native
:class:`~warden.backends.notify.MailNotifier`.

The daemon, for each jail and each of its actions (``ActionConfig.file`` / ``.options``)::

    spec = native_action(action.file, action.options, port=jail.port, protocol=jail.protocol)
    if spec is None:           -> CommandAction(jail.name, action.name, action.options)
    else:                      -> one backend per (spec.kind, spec.settings), shared by the
                                  jails with equal settings: create_backend(spec, runner),
                                  then backend.start([spec.rule for each of its jails])
                                  (``mail`` gives a MailBackend: one mail per new ban; an
                                  async daemon may prefer Dispatcher + MailNotifier)
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field

from warden.backends.base import BaseBackend, JailRule
from warden.backends.dryrun import DryRunBackend
from warden.backends.firewalld import FirewalldBackend
from warden.backends.hostsdeny import HostsDenyBackend
from warden.backends.ipfw import IpfwBackend
from warden.backends.ipset import IpsetBackend
from warden.backends.nftables import NftablesBackend
from warden.backends.notify import MailBackend, WebhookBackend, parse_headers
from warden.backends.pf import PfBackend, pf_settings
from warden.backends.route import RouteBackend
from warden.backends.runner import Runner
from warden.errors import BackendError

__all__ = ["NATIVE_ACTIONS", "NativeAction", "create_backend", "native_action"]

#: action.d names handled natively: name -> (backend kind, all ports?)
NATIVE_ACTIONS: dict[str, tuple[str, bool]] = {
    "nftables": ("nftables", False),
    "nftables-multiport": ("nftables", False),
    "nftables-allports": ("nftables", True),
    "iptables": ("ipset", False),
    "iptables-multiport": ("ipset", False),
    "iptables-allports": ("ipset", True),
    "iptables-ipset": ("ipset", False),
    "iptables-ipset-proto4": ("ipset", False),
    "iptables-ipset-proto6": ("ipset", False),
    "iptables-ipset-proto6-allports": ("ipset", True),
    "firewallcmd-ipset": ("firewalld", False),
    "firewallcmd-allports": ("firewalld", True),
    "pf": ("pf", False),
    "pf-allports": ("pf", True),
    "ipfw": ("ipfw", False),
    "route": ("route", True),
    "hostsdeny": ("hostsdeny", True),
    "dummy": ("dryrun", True),
    "dryrun": ("dryrun", True),
    "sendmail": ("mail", True),
    "sendmail-whois": ("mail", True),
    "sendmail-whois-lines": ("mail", True),
    "sendmail-whois-matches": ("mail", True),
    "sendmail-whois-ipmatches": ("mail", True),
    "sendmail-whois-ipjailmatches": ("mail", True),
    "mail": ("mail", True),
    "mail-whois": ("mail", True),
    "mail-whois-lines": ("mail", True),
    "webhook": ("webhook", True),
}


@dataclass(frozen=True)
class NativeAction:
    """A native backend for one jail's action: its kind, the jail's rule, its settings."""

    kind: str
    rule: JailRule
    settings: Mapping[str, object] = field(default_factory=dict)

    def key(self) -> tuple[str, tuple[tuple[str, object], ...]]:
        """Jails whose actions have equal keys share one backend instance."""
        return self.kind, tuple(sorted(self.settings.items()))


def _opt(options: Mapping[str, str], name: str, default: str | None = None) -> str | None:
    value = options.get(name)
    # an unresolved tag such as <known/chain> means "the action's own default"
    if value is None or "<" in value or not value.strip():
        return default
    return value.strip()


def _raw(options: Mapping[str, str], name: str) -> str | None:
    value = options.get(name)
    return value.strip() if value is not None and value.strip() else None


def _unbraced(text: str | None) -> str | None:
    # pf and fail2ban users write lists in braces: "{tcp udp}", "{ssh,2222}"
    return None if text is None else text.replace("{", " ").replace("}", " ")


def _blocktype(options: Mapping[str, str], kind: str) -> str:
    given = (_opt(options, "blocktype") or "").lower()
    if kind == "nftables":
        return "drop" if given == "drop" else "reject"
    if kind in ("ipset", "firewalld"):
        return "DROP" if given.startswith("drop") else "REJECT"
    return given or "drop"


class _Hidden(str):
    """A setting shown as ``(hidden)`` in backend names: webhook headers carry credentials."""

    __slots__ = ()

    def __str__(self) -> str:
        return "(hidden)"

    def __format__(self, spec: str) -> str:
        return "(hidden)"

    def __repr__(self) -> str:
        return "'(hidden)'"


def native_action(
    file: str, options: Mapping[str, str], *, jail: str | None = None,
    port: str | None = None, protocol: str | None = None,
) -> NativeAction | None:
    """The native backend for action ``file`` with ``options``, or ``None`` (command action).

    ``options`` are the action's resolved parameters (``ActionConfig.options``); ``port`` and
    ``protocol`` the jail's, used when the action has none.
    """
    found = NATIVE_ACTIONS.get(file)
    if found is None or (_opt(options, "native") or "true").lower() in ("0", "false", "no", "off"):
        return None
    kind, allports = found
    name = jail or _opt(options, "name") or "default"
    pf: dict[str, object] = {}
    if kind == "pf":
        pf, pf_allports = pf_settings(options, name)
        allports = allports or pf_allports
    elif _opt(options, "type") == "allports" or _raw(options, "actiontype") == "<allports>":
        allports = True
    rule = JailRule.from_options(
        name, None if allports else _unbraced(_opt(options, "port") or port),
        _unbraced(_opt(options, "protocol") or protocol), _blocktype(options, kind))
    settings: dict[str, object] = {}
    if kind == "nftables":
        settings = {"hook": _opt(options, "chain_hook", "input"),
                    "priority": int(_opt(options, "chain_priority", "-1") or -1)}
    elif kind == "ipset":
        settings = {"chain": _opt(options, "chain", "INPUT")}
    elif kind == "route":
        settings = {"blocktype": _opt(options, "blocktype", "unreachable")}
    elif kind == "hostsdeny":
        settings = {"path": _opt(options, "file", "/etc/hosts.deny"),
                    "daemons": _opt(options, "daemon_list", "ALL")}
    elif kind == "dryrun":
        target = _opt(options, "target")
        if target is not None:
            # the stock dummy's file: what it writes, warden writes (without its shell)
            settings = {"target": target, "init": _raw(options, "init") or ""}
    elif kind == "webhook":
        url = _opt(options, "url")
        if url is None:
            return None  # nothing to post to: the action file runs as it is
        settings = {"url": url}
        headers = _raw(options, "headers")
        if headers is not None:
            settings["headers"] = _Hidden(headers)
    elif kind == "pf":
        settings = pf
    elif kind == "mail":
        settings = {"dest": tuple((_opt(options, "dest", "root") or "root").replace(",", " ")
                                  .split()),
                    "sender": _opt(options, "sender", "warden"),
                    "sendername": _opt(options, "sendername", "warden"),
                    "whois": "whois" in file}
    return NativeAction(kind, rule, settings)


def create_backend(spec: NativeAction, runner: Runner | None = None) -> BaseBackend:
    """A backend instance for ``spec`` (not started); ``mail`` gives a :class:`MailBackend`."""
    s = dict(spec.settings)
    if spec.kind == "nftables":
        return NftablesBackend(runner=runner, hook=str(s["hook"]), priority=int(str(s["priority"])))
    if spec.kind == "ipset":
        return IpsetBackend(runner=runner, chain=str(s["chain"]))
    if spec.kind == "route":
        return RouteBackend(runner=runner, blocktype=str(s["blocktype"]))
    if spec.kind == "hostsdeny":
        return HostsDenyBackend(path=str(s["path"]), daemons=str(s["daemons"]))
    if spec.kind == "pf":
        return PfBackend(runner=runner, anchor=str(s["anchor"]), table=str(s["table"]),
                         pfctl=shlex.split(str(s["pfctl"])), log=bool(s["log"]),
                         block=str(s["block"]), target=str(s["target"]),
                         table_options=str(s["table_options"]))
    if spec.kind == "ipfw":
        return IpfwBackend(runner=runner)
    if spec.kind == "firewalld":
        return FirewalldBackend(runner=runner)
    if spec.kind == "dryrun":
        target = s.get("target")
        return DryRunBackend(target=None if target is None else str(target),
                             init=str(s.get("init", "")))
    if spec.kind == "webhook":
        headers = s.get("headers", "")
        return WebhookBackend(str(s["url"]), headers=parse_headers(
            headers if isinstance(headers, str) else ""))
    if spec.kind == "mail":
        dest = s["dest"]
        return MailBackend(tuple(dest) if isinstance(dest, tuple | list) else (str(dest),),
                           sender=str(s["sender"]), sendername=str(s["sendername"]),
                           runner=runner, whois=bool(s.get("whois")))
    raise BackendError(f"no firewall backend of kind {spec.kind!r}")
