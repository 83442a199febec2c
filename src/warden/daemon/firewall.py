"""Which backends enforce a jail: its actions, through :mod:`warden.backends.registry`.

Each native action (``nftables-multiport``, ``iptables-ipset``, ``pf``, ``dummy``, ...) maps to a
backend kind with settings; jails whose actions have equal settings share one backend instance,
named by that key. Any other ``action.d`` action runs as a fail2ban command action
(:class:`~warden.backends.commandaction.CommandAction`, one per jail and action, in its own
enforcer lane so a slow command never delays the firewall); mail actions become the mail
notifier, in a lane of its own too. Python actions (``action.d/*.py``) are reported as not run
(``unsupported``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Collection
from dataclasses import dataclass, field

from warden.backends.base import FirewallBackend, JailRule
from warden.backends.commandaction import CommandAction
from warden.backends.registry import NativeAction, create_backend, native_action
from warden.config import JailConfig

__all__ = ["JailRoute", "dropped_backends", "is_command_action", "make_backend", "needs_matches",
           "route_for", "same_kind"]

_MATCH_TAGS = ("<matches>", "<ipmatches>", "<ipjailmatches>")
_NOTICES = ("mail", "webhook")


@dataclass(frozen=True, slots=True)
class JailRoute:
    """A jail's firewall rule, its backends (by name, with how to make each), the actions
    left unenforced, and the backends that bound their own commands' time."""

    rule: JailRule
    backends: tuple[str, ...]
    factories: dict[str, Callable[[], FirewallBackend]] = field(default_factory=dict)
    unsupported: tuple[str, ...] = ()
    self_timed: tuple[str, ...] = ()


def _name(spec: NativeAction) -> str:
    kind, settings = spec.key()
    return kind if not settings else f"{kind}[{', '.join(f'{k}={v}' for k, v in settings)}]"


def _command_name(jail: str, action: str) -> str:
    return f"action {jail}/{action}"


def is_command_action(name: str, jail: str) -> bool:
    """True if the backend ``name`` is a command action of ``jail`` (one per jail and
    action, so a jail that drops it can stop it)."""
    return name.startswith(_command_name(jail, ""))


def same_kind(name: str, names: Collection[str]) -> bool:
    """True if one of ``names`` is a backend of the kind of ``name`` (two instances of one
    firewall with other settings may share the kernel's sets)."""
    kind = name.split("[", 1)[0]
    return any(other.split("[", 1)[0] == kind for other in names)


def dropped_backends(jail: str, before: Collection[str], now: Collection[str]) -> list[str]:
    """The backends ``jail`` ran (``before``) and runs no more (``now``) that must be
    released: its command actions, and firewalls of a kind none of ``now`` is (one of the
    same kind may hold the same kernel sets, which the new one fills: it only leaves the
    jail's route)."""
    return [name for name in before if name not in now
            and (is_command_action(name, jail) or not same_kind(name, now))]


def route_for(cfg: JailConfig) -> JailRoute:
    """How ``cfg``'s bans reach the firewall."""
    names: list[str] = []
    factories: dict[str, Callable[[], FirewallBackend]] = {}
    unsupported: list[str] = []
    self_timed: list[str] = []
    rule: JailRule | None = None
    for action in cfg.actions:
        if action.python_path is not None:
            unsupported.append(action.file)
            continue
        spec = native_action(action.file, action.options or action.params, jail=cfg.name,
                             port=cfg.port, protocol=cfg.protocol)
        if spec is None:
            name = _command_name(cfg.name, action.name)
            options = dict(action.options)
            factories[name] = functools.partial(CommandAction, cfg.name, action.name, options)
            self_timed.append(name)
        elif spec.kind in _NOTICES:
            # mail and webhooks: their own lane, bounded by their own timeouts
            name = _name(spec)
            factories[name] = functools.partial(create_backend, spec)
            self_timed.append(name)
        else:
            name = _name(spec)
            factories[name] = functools.partial(create_backend, spec)
            rule = rule or spec.rule
        if name not in names:
            names.append(name)
    rule = rule or JailRule.from_options(cfg.name, cfg.port, cfg.protocol)
    return JailRoute(rule, tuple(names), factories, tuple(unsupported), tuple(self_timed))


def make_backend(route: JailRoute, name: str) -> FirewallBackend:
    """A new backend instance for the backend ``name`` of ``route``."""
    return route.factories[name]()


def needs_matches(cfg: JailConfig) -> bool:
    """True if an action of ``cfg`` uses the failures' log lines (``<matches>`` and kin).

    Native backends never do; when no action does, the jail need not keep any line per
    tracked address (the largest part of its memory in a flood).
    """
    for action in cfg.actions:
        if action.python_path is not None:
            return True
        spec = native_action(action.file, action.options or action.params, jail=cfg.name,
                             port=cfg.port, protocol=cfg.protocol)
        if spec is not None and spec.kind not in _NOTICES:
            continue
        texts = [*action.options.values(), *action.params.values()]
        if spec is not None or any(tag in text for text in texts for tag in _MATCH_TAGS):
            return True
    return False
