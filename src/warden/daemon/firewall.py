"""Which firewall backends enforce a jail: its actions through :mod:`warden.backends.registry`.

Each native action (``nftables-multiport``, ``iptables-ipset``, ``pf``, ``dummy``, ...) maps to a
backend kind with settings; jails whose actions have equal settings share one backend instance,
named by that key. Actions that are not native (other shell actions, mail) are listed as
``unsupported`` and reported at start: the daemon does not run them yet.
"""

from __future__ import annotations

from dataclasses import dataclass

from warden.backends.base import FirewallBackend, JailRule
from warden.backends.registry import NativeAction, create_backend, native_action
from warden.config import JailConfig

__all__ = ["JailRoute", "make_backend", "route_for"]


@dataclass(frozen=True, slots=True)
class JailRoute:
    """A jail's firewall rule, its backends (by name) and the actions left unenforced."""

    rule: JailRule
    backends: tuple[str, ...]
    specs: tuple[NativeAction, ...]
    unsupported: tuple[str, ...]


def _name(spec: NativeAction) -> str:
    kind, settings = spec.key()
    return kind if not settings else f"{kind}[{', '.join(f'{k}={v}' for k, v in settings)}]"


def route_for(cfg: JailConfig) -> JailRoute:
    """How ``cfg``'s bans reach the firewall."""
    names: list[str] = []
    specs: list[NativeAction] = []
    unsupported: list[str] = []
    rule: JailRule | None = None
    for action in cfg.actions:
        spec = native_action(action.file, action.options or action.params, jail=cfg.name,
                             port=cfg.port, protocol=cfg.protocol)
        if spec is None or spec.kind == "mail":
            unsupported.append(action.file)
            continue
        name = _name(spec)
        if name not in names:
            names.append(name)
            specs.append(spec)
        rule = rule or spec.rule
    return JailRoute(rule or JailRule(cfg.name), tuple(names), tuple(specs), tuple(unsupported))


def make_backend(route: JailRoute, name: str) -> FirewallBackend:
    """A new backend instance for the backend ``name`` of ``route``."""
    spec = route.specs[route.backends.index(name)]
    return create_backend(spec)
