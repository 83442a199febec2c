"""Files with ``[Definition]`` and ``[Init]`` sections (filters, actions), fail2ban-style.

Resolution of one such file for a reference ``name[k=v, ...]``:

1. The options the reader asks for are read from ``[Definition]`` with ``%(...)s`` expanded,
   the reference's parameters (and, in a jail, the jail's options) acting as variables that
   take precedence over the section. An option given as a parameter is not read.
2. ``[Init]`` options become defaults for the parameters: each is available as ``<name>``
   unless a parameter of that name exists, and always as ``<known/name>``.
3. ``<tag>`` substitution runs over the combined options (parameters over definitions); a tag
   that is no option is looked up in ``[Definition]`` (``section/name`` and ``known/name``
   forms included).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from warden.config.confset import ConfigSet, Value, same_lines
from warden.config.ini import RawValue
from warden.config.tags import TagLoopError, substitute_tags
from warden.core.filterdef import Origin
from warden.errors import ConfigError

__all__ = ["DEFINITION", "INIT", "ResolvedDefinition", "resolve_definition"]

DEFINITION = "Definition"
INIT = "Init"
_CONDITIONAL = re.compile(r"^(\w+)(\?.+)$")


@dataclass(frozen=True, slots=True)
class ResolvedDefinition:
    """Options of a filter or action after interpolation and tag substitution.

    ``options`` keeps fail2ban's order (definition options, then parameters and ``[Init]``);
    ``origins`` says where each option came from; ``init`` holds the parameters and ``[Init]``
    values before tag substitution (fail2ban substitutes those in actions only at run time);
    ``lines`` the file line of each line of an option, where known.
    """

    options: dict[str, str]
    origins: dict[str, Origin] = field(default_factory=dict)
    init: dict[str, str] = field(default_factory=dict)
    lines: dict[str, tuple[int, ...]] = field(default_factory=dict)


def _init_options(confset: ConfigSet, params: Mapping[str, RawValue]) -> dict[str, Value]:
    """Parameters, then ``[Init]`` options not overridden by one, each also as ``known/name``."""
    init: dict[str, Value] = {key: Value(raw.text, raw.origin) for key, raw in params.items()}
    if not confset.has_section(INIT):
        return init
    for name in confset.own_options(INIT):
        if name == "__name__":
            continue
        value: Value | None = None
        if not name.startswith("known/"):
            value = confset.get(INIT, name)
            if value is not None:
                init["known/" + name] = value
        if name not in init:
            value = value or confset.get(INIT, name)
            if value is not None:
                init[name] = value
    return init


def _add_remaining(confset: ConfigSet, options: dict[str, Value]) -> None:
    names = [*confset.own_options(DEFINITION), *confset.defaults]
    for name in dict.fromkeys(names):
        if name in options or name == "__name__":
            continue
        try:
            found = confset.get(DEFINITION, name)
        except ConfigError:
            continue  # fragments never used by this filter need not resolve
        if found is not None:
            options[name] = found


def resolve_definition(
    confset: ConfigSet,
    wanted: Iterable[str],
    params: Mapping[str, RawValue],
    *,
    jail_options: Mapping[str, RawValue] | None = None,
    ignore: Iterable[str] = (),
    condition: str = "",
    all_options: bool = False,
) -> ResolvedDefinition:
    """Resolve the ``wanted`` ``[Definition]`` options of ``confset`` for ``params``.

    ``jail_options`` are the options of the jail using the file; as in fail2ban, they (with the
    parameters and ``[Init]`` values over them) are the interpolation variables, and an option
    the jail sets is not read from ``[Definition]``. Raises ConfigError naming the file and
    line of the faulty option. Tags named in ``ignore`` are left in place. With
    ``all_options`` every other ``[Definition]`` (and ``[DEFAULT]``) option is resolved too,
    without variables, skipping those that cannot be interpolated.
    """
    init = _init_options(confset, params)
    scope: dict[str, RawValue] = dict(params)
    if jail_options is not None:
        scope = {
            **jail_options,
            **{name: RawValue(value.text, value.origin) for name, value in init.items()},
        }
    options: dict[str, Value] = {}
    if confset.has_section(DEFINITION):
        for name in wanted:
            if name in scope:
                continue
            found = confset.get(DEFINITION, name, scope)
            if found is not None:
                options[name] = found
        if all_options:
            _add_remaining(confset, options)

    combined = {**options, **init}
    skip = set(ignore)
    for name in combined:
        conditional = _CONDITIONAL.match(name)
        if conditional:
            skip.add(conditional.group(1))

    cache: dict[str, str | None] = {}

    def fallback(tag: str) -> str | None:
        if tag not in cache:
            found = confset.get_qualified(DEFINITION, tag, scope)
            cache[tag] = found.text if found is not None else None
        return cache[tag]

    texts = {name: value.text for name, value in combined.items()}
    try:
        resolved = substitute_tags(texts, ignore=skip, fallback=fallback, condition=condition)
    except TagLoopError as exc:
        origin = combined[exc.option].origin
        raise ConfigError(str(exc), file=origin.file, line=origin.line) from None
    return ResolvedDefinition(
        resolved,
        {name: value.origin for name, value in combined.items()},
        {name: value.text for name, value in init.items()},
        {
            name: same_lines(resolved[name], value.lines)
            for name, value in combined.items()
            if same_lines(resolved[name], value.lines)
        },
    )
