"""Loading an action reference of a jail (``action.d/NAME.conf`` or a Python action ``NAME.py``)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from warden.config.confset import FileCache, read_layered
from warden.config.definition import resolve_definition
from warden.config.ini import RawValue
from warden.config.reference import Reference
from warden.core.filterdef import Origin
from warden.errors import ConfigError

__all__ = ["ACTION_OPTIONS", "ActionConfig", "load_action"]

#: the ``[Definition]`` options an action is asked for, in fail2ban's order
ACTION_OPTIONS = (
    "actionstart",
    "actionstart_on_demand",
    "actionstop",
    "actionflush",
    "actionreload",
    "actioncheck",
    "actionrepair",
    "actionrepair_on_unban",
    "actionban",
    "actionprolong",
    "actionreban",
    "actionunban",
    "norestored",
)

#: ``[Definition]`` settings of warden's native webhook backend (fail2ban asks for none)
_NATIVE_OPTIONS = ("url", "headers")

#: tags filled from log data at ban time; never substituted while loading
_RUNTIME_TAGS = frozenset({"matches", "ipmatches", "ipjailmatches", "timeout", "bantime"})


@dataclass(frozen=True, slots=True)
class ActionConfig:
    """One action of a jail.

    ``name`` is the action's unique name in the jail (fail2ban's ``actname``), ``file`` the
    action file stem (``iptables-multiport``), ``params`` the reference's parameters.
    For command actions ``options`` holds what fail2ban's server receives: the ``action*``
    commands with configuration tags substituted (run-time tags such as ``<ip>`` remain), then
    every parameter and ``[Init]`` value as written (its tags, e.g. ``<known/chain>``, and
    ``name?family=inet6`` conditional values are substituted at run time). For Python actions
    (``python_path`` set) it is empty.
    """

    name: str
    file: str
    params: dict[str, str]
    options: dict[str, str] = field(default_factory=dict)
    python_path: str | None = None
    origin: Origin = field(default=Origin("<action>"), compare=False)


def _action_names(reference: Reference, jail: str) -> dict[str, str]:
    params = dict(reference.params)
    name = params.setdefault("name", jail)
    if "actname" not in params:
        actname = reference.name
        if name != jail:
            actname += name[len(jail) :] if name.startswith(jail) else "-" + name
        params["actname"] = actname
    return params


def load_action(
    config_dir: str | os.PathLike[str],
    reference: Reference,
    *,
    jail: str,
    jail_options: Mapping[str, RawValue],
    origin: Origin,
    cache: FileCache | None = None,
) -> ActionConfig:
    """Resolve the action ``reference`` used by ``jail`` (whose options act as variables).

    Raises ConfigError (located at ``origin``, the jail's ``action`` line, or at the faulty
    line of the action file) if the action does not exist or cannot be resolved.
    """
    directory = os.path.join(os.fspath(config_dir), "action.d")
    if reference.name.endswith(".py"):
        path = os.path.join(directory, reference.name)
        if not os.path.isfile(path):
            raise ConfigError(
                f"python action {reference.name!r} not found in {directory}",
                file=origin.file,
                line=origin.line,
            )
        params = dict(reference.params)
        actname = params.pop("actname", os.path.splitext(reference.name)[0])
        return ActionConfig(actname, reference.name, params, python_path=path, origin=origin)
    confset = read_layered(directory, reference.name, cache)
    if confset is None:
        raise ConfigError(
            f"action {reference.name!r} not found: no {reference.name}.conf or "
            f"{reference.name}.local in {directory}",
            file=origin.file,
            line=origin.line,
        )
    params = _action_names(reference, jail)
    raw_params = {key: RawValue(value, origin) for key, value in params.items()}
    resolved = resolve_definition(
        confset, (*ACTION_OPTIONS, *_NATIVE_OPTIONS), raw_params, jail_options=jail_options,
        ignore=_RUNTIME_TAGS,
    )
    options = {
        key: value
        for key, value in resolved.options.items()
        if key in (*ACTION_OPTIONS, *_NATIVE_OPTIONS) and not key.startswith("known/")
    }
    options.update(
        (key, value)
        for key, value in resolved.init.items()
        if key not in ACTION_OPTIONS and not key.startswith("known/")
    )
    return ActionConfig(params["actname"], reference.name, params, options, origin=origin)
