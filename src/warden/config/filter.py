"""Loading a filter (``filter.d/NAME.conf`` and its layers) into a :class:`FilterDefinition`.

Besides the option names, ``FilterDefinition.origins`` has ``failregex[i]`` and
``ignoreregex[i]`` entries giving the file line of the i-th regex, when each regex still sits
on its own line of the file (not when it came from a ``<tag>`` or ``%(...)s`` holding several
lines).
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from warden.config.confset import ConfigSet, FileCache, read_layered, read_set
from warden.config.definition import ResolvedDefinition, resolve_definition
from warden.config.ini import RawValue
from warden.config.reference import Reference, parse_reference
from warden.core.filterdef import FilterDefinition, Origin
from warden.errors import ConfigError

__all__ = [
    "BACKTRACKING_OPTION",
    "FILTER_OPTIONS",
    "allows_backtracking",
    "filter_options_for_jail",
    "load_filter",
    "read_filter_files",
    "regex_origins",
    "resolve_filter",
]

#: the ``[Definition]`` options a filter is asked for, in fail2ban's order
FILTER_OPTIONS = (
    "usedns",
    "prefregex",
    "ignoreregex",
    "failregex",
    "successregex",
    "maxlines",
    "datepattern",
    "journalmatch",
)


#: the filter option that keeps a regex the linter proves exponential (``allow``; default
#: ``refuse``); set in ``[Definition]``, ``[Init]`` or as a parameter ``name[backtracking=allow]``
BACKTRACKING_OPTION = "backtracking"


def allows_backtracking(confset: ConfigSet, reference: Reference, spec_origin: Origin) -> bool:
    """Whether the filter opts in to regexes certain to backtrack exponentially (its
    ``backtracking`` option, see :data:`BACKTRACKING_OPTION`). Raises ConfigError at the
    option's line for a value other than ``allow`` or ``refuse``."""
    text = reference.params.get(BACKTRACKING_OPTION)
    origin = spec_origin
    if text is None:
        found = confset.get("Init", BACKTRACKING_OPTION) or confset.get(
            "Definition", BACKTRACKING_OPTION)
        if found is None:
            return False
        text, origin = found.text, found.origin
    value = text.strip().lower()
    if value not in ("allow", "refuse", ""):
        raise ConfigError(
            f"{BACKTRACKING_OPTION} = {text!r}: use allow or refuse",
            file=origin.file,
            line=origin.line,
        )
    return value == "allow"


def read_filter_files(
    config_dir: str | os.PathLike[str], name: str, cache: FileCache | None = None
) -> ConfigSet:
    """Read filter ``name`` from ``config_dir/filter.d`` (``name`` may end in ``.conf``), or
    from the path ``name`` if it contains a ``/`` (``x/f.conf`` is read with ``x/f.local``
    and ``x/f.d/``). Raises ConfigError when no file exists."""
    directory = os.fspath(config_dir)
    stem = name[: -len(os.path.splitext(name)[1])] if name.endswith((".conf", ".local")) else name
    found: ConfigSet | None
    if "/" not in name:
        found = read_layered(os.path.join(directory, "filter.d"), stem, cache)
    elif stem != name or not os.path.isfile(name):
        found = read_layered(os.path.dirname(stem), os.path.basename(stem), cache)
    else:  # a foreign file with another extension: it and its includes
        found = read_set([name], cache)
    if found is None:
        raise ConfigError(
            f"filter {name!r} not found: no {name}.conf or {name}.local "
            f"in {os.path.join(directory, 'filter.d')}"
        )
    return found


def _lines(text: str | None) -> tuple[str, ...]:
    return tuple(line for line in (text or "").split("\n") if line != "")


def regex_origins(
    option: str, text: str, origin: Origin, lines: tuple[int, ...]
) -> dict[str, Origin]:
    """``option[i]`` -> the file line of the i-th regex of a multi-line option, where known."""
    if not lines:
        return {}
    found: dict[str, Origin] = {}
    index = 0
    for line, number in zip(text.split("\n"), lines, strict=True):
        if line != "":
            found[f"{option}[{index}]"] = Origin(origin.file, number)
            index += 1
    return found


def _definition(name: str, resolved: ResolvedDefinition, spec_origin: Origin) -> FilterDefinition:
    options = resolved.options
    origins = {key: resolved.origins.get(key, spec_origin) for key in options}
    for option in ("failregex", "ignoreregex", "successregex"):
        if option in options and option in resolved.lines:
            origins.update(
                regex_origins(option, options[option], origins[option], resolved.lines[option])
            )
    maxlines = 1
    if options.get("maxlines") is not None:
        try:
            maxlines = int(options["maxlines"])
        except ValueError:
            where = origins["maxlines"]
            raise ConfigError(
                f"maxlines must be an integer, not {options['maxlines']!r}",
                file=where.file,
                line=where.line,
            ) from None
    return FilterDefinition(
        name=name,
        failregex=_lines(options.get("failregex")),
        ignoreregex=_lines(options.get("ignoreregex")),
        prefregex=options.get("prefregex") or None,
        datepattern=options.get("datepattern"),
        maxlines=maxlines,
        journalmatch=_lines(options.get("journalmatch")),
        logtimezone=options.get("logtimezone") or None,
        successregex=_lines(options.get("successregex")),
        origins=origins,
    )


def _params(
    confset: ConfigSet, reference: Reference, spec_origin: Origin, backend: str | None
) -> dict[str, RawValue]:
    params = {key: RawValue(value, spec_origin) for key, value in reference.params.items()}
    if (
        backend is not None
        and not params.get("logtype", RawValue("", spec_origin)).text
        and "logtype" not in confset.own_options("Definition")
    ):
        logtype = "journal" if backend.startswith("systemd") else "file"
        params["logtype"] = RawValue(logtype, spec_origin)
    return params


def filter_options_for_jail(
    confset: ConfigSet,
    reference: Reference,
    *,
    spec_origin: Origin,
    jail_options: Mapping[str, RawValue],
    backend: str,
) -> dict[str, RawValue]:
    """Every resolved option of the filter, as a jail sees them under ``known/NAME``
    (``failregex = %(known/failregex)s`` in a jail extends the filter's list)."""
    params = _params(confset, reference, spec_origin, backend)
    resolved = resolve_definition(
        confset, FILTER_OPTIONS, params, jail_options=jail_options, all_options=True
    )
    return {
        "known/" + name: RawValue(text, resolved.origins.get(name, spec_origin))
        for name, text in resolved.options.items()
        if not name.startswith("known/") and name != "__name__"
    }


def resolve_filter(
    confset: ConfigSet,
    reference: Reference,
    *,
    spec_origin: Origin,
    jail_options: Mapping[str, RawValue] | None = None,
    backend: str | None = None,
) -> FilterDefinition:
    """Resolve a read filter for ``reference``'s parameters.

    With ``backend`` (the jail's), ``logtype`` defaults to ``journal`` for ``systemd*`` backends
    and ``file`` otherwise, unless a parameter or the filter's ``[Definition]`` sets it.
    """
    params = _params(confset, reference, spec_origin, backend)
    resolved = resolve_definition(
        confset, (*FILTER_OPTIONS, "logtimezone"), params, jail_options=jail_options
    )
    return _definition(reference.name, resolved, spec_origin)


def load_filter(
    config_dir: str | os.PathLike[str],
    spec: str,
    *,
    cache: FileCache | None = None,
    spec_origin: Origin | None = None,
    backend: str | None = None,
) -> FilterDefinition:
    """Load the filter named by ``spec`` (``name``, ``name[k=v, ...]`` or a path to a filter
    file), exactly as ``fail2ban-regex -c config_dir LOG spec`` would.

    ``backend`` (``auto``, ``systemd``, ...) makes ``logtype`` default to ``file`` or
    ``journal`` as fail2ban-regex and jails do; without it ``logtype`` is whatever the filter
    files say (what fail2ban's FilterReader gives when used directly).

    Raises ConfigError (with file and line where known) for a missing filter, a malformed
    spec, or an option that cannot be interpolated.
    """
    origin = spec_origin or Origin("<filter spec>")
    try:
        reference = parse_reference(spec)
    except ValueError as exc:
        raise ConfigError(str(exc), file=origin.file, line=origin.line) from None
    confset = read_filter_files(config_dir, reference.name, cache)
    return resolve_filter(confset, reference, spec_origin=origin, backend=backend)
