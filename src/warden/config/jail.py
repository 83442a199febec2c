"""Jails: ``jail.conf``, ``jail.d/*.conf``, ``jail.local``, ``jail.d/*.local`` (and ``paths-*.conf``
includes) resolved into frozen :class:`JailConfig` values, as fail2ban's jail reader does.

Only enabled jails are fully resolved: their filter and actions must exist and load, their
numbers and durations must parse, and :func:`warden.config.validate.jail_problems` must find
nothing. A jail with problems is left out of ``JailsConfig.jails`` and every problem is listed
in ``JailsConfig.errors`` (each naming file and line), so one broken jail does not stop the
others. ``JailsConfig.warnings`` lists option names nothing reads and risky regexes.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from collections.abc import Callable
from typing import TypeVar

from warden import __version__
from warden.config.action import ActionConfig, load_action
from warden.config.confset import ConfigSet, FileCache, Value, read_layered
from warden.config.filter import (
    FILTER_OPTIONS,
    allows_backtracking,
    filter_options_for_jail,
    read_filter_files,
    regex_origins,
    resolve_filter,
)
from warden.config.fleet import read_fleet
from warden.config.ini import RawValue
from warden.config.model import BanTimeIncrement, JailConfig, JailsConfig, LogPath
from warden.config.optionnames import known_names, unknown_option_warnings
from warden.config.reference import Reference, parse_reference, split_references
from warden.config.validate import jail_problems, jail_warnings
from warden.core.duration import parse_duration
from warden.core.escalate import Escalation, parse_escalate
from warden.core.filterdef import FilterDefinition, Origin
from warden.errors import ConfigError

__all__ = [  # the model types are re-exported for convenience
    "JAIL_OPTIONS",
    "BanTimeIncrement",
    "JailConfig",
    "JailsConfig",
    "LogPath",
    "as_bool",
    "load_jail_action",
    "load_jails",
    "truth_value",
]

#: warden's own jail options of issue 14 (networks, escalation, trust); see ``_Jail.smart``
NETWORK_OPTIONS = ("banprefix4", "banprefix6", "countprefix4", "countprefix6", "escalate",
                   "trustsuccess", "trustmaxretry")

#: options a jail reads (fail2ban's list plus the filter options a jail may override)
JAIL_OPTIONS = (
    "enabled",
    "backend",
    "maxretry",
    "maxmatches",
    "findtime",
    "bantime",
    "bantime.increment",
    "bantime.factor",
    "bantime.formula",
    "bantime.multipliers",
    "bantime.maxtime",
    "bantime.rndtime",
    "bantime.overalljails",
    "ignorecommand",
    "ignoreself",
    "ignoreip",
    "ignorecache",
    "filter",
    "logtimezone",
    "logencoding",
    "logpath",
    "action",
    "fleet",
    *NETWORK_OPTIONS,
    *FILTER_OPTIONS,
)
_EXPOSED = (*JAIL_OPTIONS, "port", "protocol")
_T = TypeVar("_T")


def as_bool(text: str) -> bool:
    """fail2ban's truth values: ``1``, ``on``, ``true``, ``yes`` (any case); anything else false."""
    return text.strip().lower() in ("1", "on", "true", "yes")


_TRUE = ("1", "on", "true", "yes")
_FALSE = ("0", "off", "false", "no")


def truth_value(text: str) -> bool | None:
    """``True``/``False`` for fail2ban's truth words (any case), None for anything else."""
    word = text.strip().lower()
    return True if word in _TRUE else False if word in _FALSE else None


def _split_words(text: str) -> tuple[str, ...]:
    words = text.replace(",", " ").split()
    return tuple(word for word in words if word)


class _Jail:
    """Resolves one jail section, collecting every problem instead of stopping at the first."""

    def __init__(self, confset: ConfigSet, name: str, config_dir: str, cache: FileCache) -> None:
        self.confset = confset
        self.name = name
        self.config_dir = config_dir
        self.cache = cache
        self.errors: list[ConfigError] = []
        self.values: dict[str, Value] = {}
        self.attempted: set[str] = set()
        self.allow_backtracking = False

    def fail(self, message: str, origin: Origin | None) -> None:
        where = origin or Origin(self.confset.files[0] if self.confset.files else "<jail>")
        error = ConfigError(f"[{self.name}] {message}", file=where.file, line=where.line)
        self.errors.append(error)

    def add(self, error: ConfigError, origin: Origin) -> None:
        """Record ``error`` with the jail's name, located at ``origin`` unless it has a file."""
        file, line = (error.file, error.line) if error.file else (origin.file, origin.line)
        message = error.message
        if not message.startswith(f"[{self.name}]"):
            message = f"[{self.name}] {message}"
        self.errors.append(type(error)(message, file=file, line=line))

    def read(self, option: str) -> Value | None:
        if option in self.attempted:
            return self.values.get(option)
        self.attempted.add(option)
        try:
            found = self.confset.get(self.name, option)
        except ConfigError as exc:
            self.add(exc, Origin("<jail>"))
            return None
        if found is not None:
            self.values[option] = found
        return found

    def convert(self, option: str, parse: Callable[[str], _T], default: _T, what: str) -> _T:
        found = self.values.get(option)
        if found is None:
            return default
        try:
            return parse(found.text)
        except ValueError as exc:
            self.fail(f"{option} = {found.text!r}: {what} ({exc})", found.origin)
            return default

    def truth(self, option: str, default: bool) -> bool:
        """A truth value; an empty value is the default, a word that is none is an error
        (fail2ban reads ``enabled = maybe`` as false without a word)."""
        found = self.values.get(option)
        if found is None or not found.text.strip():
            return default
        value = truth_value(found.text)
        if value is None:
            self.fail(f"{option} = {found.text!r}: not a truth value (use true or false)",
                      found.origin)
            return default
        return value

    def duration(self, option: str, default: float | None) -> float | None:
        found = self.values.get(option)
        if found is None or not found.text.strip():
            return default
        return self.convert(option, parse_duration, default, "not a valid time value")

    def seconds(self, option: str, default: float) -> float:
        found = self.duration(option, default)
        return default if found is None else found

    def text(self, option: str, default: str | None = None) -> str | None:
        found = self.values.get(option)
        return found.text if found is not None else default

    def prepare_filter(self, backend: str) -> tuple[Reference, ConfigSet] | None:
        """Read the jail's filter and expose its options to the jail as ``known/NAME``."""
        spec = self.values.get("filter")
        if spec is None or not spec.text.strip():
            return None
        try:
            reference = parse_reference(spec.text)
            confset = read_filter_files(self.config_dir, reference.name, self.cache)
            known = filter_options_for_jail(
                confset,
                reference,
                spec_origin=spec.origin,
                jail_options=self.variables(),
                backend=backend,
            )
        except ValueError as exc:
            self.fail(f"invalid filter reference {spec.text!r}: {exc}", spec.origin)
            return None
        except ConfigError as exc:
            self.add(exc, spec.origin)
            return None
        self.confset.sections.setdefault(self.name, {}).update(known)
        return reference, confset

    def variables(self) -> dict[str, RawValue]:
        return {key: RawValue(v.text, v.origin) for key, v in self.values.items()}

    def load_filter(
        self, prepared: tuple[Reference, ConfigSet] | None, backend: str
    ) -> FilterDefinition | None:
        spec = self.values.get("filter")
        if prepared is None or spec is None:
            return None
        reference, confset = prepared
        try:
            self.allow_backtracking = allows_backtracking(confset, reference, spec.origin)
            found = resolve_filter(
                confset,
                reference,
                spec_origin=spec.origin,
                jail_options=self.variables(),
                backend=backend,
            )
        except ConfigError as exc:
            self.add(exc, spec.origin)
            return None
        return self.jail_overrides(found)

    def jail_overrides(self, found: FilterDefinition) -> FilterDefinition:
        """Filter options set in the jail itself replace the filter's (fail2ban semantics)."""
        changes: dict[str, object] = {}
        for option in ("failregex", "ignoreregex", "journalmatch", "successregex"):
            if option in self.values:
                lines = tuple(x for x in self.values[option].text.split("\n") if x)
                changes[option] = lines
        for option in ("prefregex", "datepattern"):
            if option in self.values:
                changes[option] = self.values[option].text or None
        if "maxlines" in self.values:
            changes["maxlines"] = self.convert("maxlines", int, found.maxlines, "not an integer")
        if "logtimezone" in self.values:
            changes["logtimezone"] = self.values["logtimezone"].text or None
        if not changes:
            return found
        origins = {
            key: origin for key, origin in found.origins.items() if key.split("[")[0] not in changes
        }
        origins.update({key: self.values[key].origin for key in changes})
        for option in ("failregex", "ignoreregex"):
            if option in changes:
                value = self.values[option]
                origins.update(regex_origins(option, value.text, value.origin, value.lines))
        return dataclasses.replace(found, origins=origins, **changes)  # type: ignore[arg-type]

    def load_actions(self) -> tuple[ActionConfig, ...]:
        spec = self.values.get("action")
        if spec is None:
            return ()
        variables = self.variables()
        actions: list[ActionConfig] = []
        for item in split_references(spec.text):
            try:
                reference = parse_reference(item.strip())
                actions.append(
                    load_action(
                        self.config_dir,
                        reference,
                        jail=self.name,
                        jail_options=variables,
                        origin=spec.origin,
                        cache=self.cache,
                    )
                )
            except ValueError as exc:
                self.fail(f"invalid action reference {item!r}: {exc}", spec.origin)
            except ConfigError as exc:
                self.add(exc, spec.origin)
        return tuple(actions)

    def logpaths(self) -> tuple[LogPath, ...]:
        paths: list[LogPath] = []
        for line in (self.text("logpath") or "").split("\n"):
            line = line.strip()
            if not line:
                continue
            pattern, _, start = line.rpartition(" ")
            if pattern and start in ("head", "tail"):
                paths.append(LogPath(pattern.strip(), start))
            else:
                paths.append(LogPath(line))
        return tuple(paths)

    def increment(self) -> BanTimeIncrement:
        multipliers = self.text("bantime.multipliers") or ""
        return BanTimeIncrement(
            enabled=self.truth("bantime.increment", False),
            factor=self.convert("bantime.factor", float, 1.0, "not a number"),
            formula=self.text("bantime.formula") or None,
            multipliers=self.convert(
                "bantime.multipliers",
                lambda text: tuple(float(x) for x in text.split()),
                (),
                "expected numbers separated by spaces",
            )
            if multipliers.strip()
            else (),
            maxtime=self.duration("bantime.maxtime", None),
            rndtime=self.duration("bantime.rndtime", None),
            overalljails=self.truth("bantime.overalljails", False),
        )

    def prefix(self, option: str, width: int, default: int | None) -> int | None:
        """A prefix length 1..``width`` (empty: ``default``)."""
        found = self.values.get(option)
        if found is None or not found.text.strip():
            return default
        text = found.text.strip().lstrip("/")
        if not text.isdigit() or not 1 <= int(text) <= width:
            self.fail(f"{option} = {found.text!r}: not a prefix length from 1 to {width}",
                      found.origin)
            return default
        return int(text)

    def smart(self) -> dict[str, object]:
        """warden's own options of issue 14, checked: the ban and count prefixes, the
        escalation rules (each wider than the ban prefix of its family) and trust."""
        ban4 = self.prefix("banprefix4", 32, 32) or 32
        ban6 = self.prefix("banprefix6", 128, 128) or 128
        found: dict[str, object] = {
            "banprefix4": ban4, "banprefix6": ban6,
            "countprefix4": self.prefix("countprefix4", 32, None),
            "countprefix6": self.prefix("countprefix6", 128, None),
        }
        rules: tuple[Escalation, ...] = ()
        value = self.values.get("escalate")
        if value is not None:
            try:
                rules = parse_escalate(value.text)
            except ValueError as exc:
                self.fail(f"escalate = {value.text!r}: {exc}", value.origin)
            for rule in rules:
                ban = ban4 if rule.version == 4 else ban6
                if rule.prefix >= ban:
                    self.fail(f"escalate = {value.text!r}: {rule} is not wider than the "
                              f"bans themselves (banprefix{rule.version} = {ban})", value.origin)
        found["escalate"] = rules
        trust: float | None = None
        value = self.values.get("trustsuccess")
        if value is not None and truth_value(value.text) is not False and value.text.strip():
            trust = self.duration("trustsuccess", None)
            if trust is not None and trust <= 0:
                self.fail(f"trustsuccess = {value.text!r}: a time such as 1d, or no",
                          value.origin)
                trust = None
        found["trustsuccess"] = trust
        limit = self.convert("trustmaxretry", int, None, "not an integer") \
            if (self.text("trustmaxretry") or "").strip() else None
        if limit is not None and limit < 1:
            value = self.values["trustmaxretry"]
            self.fail(f"trustmaxretry = {value.text!r}: at least 1", value.origin)
            limit = None
        found["trustmaxretry"] = limit
        return found

    def build(self) -> JailConfig:
        for option in ("enabled", "backend", "filter"):
            self.read(option)
        backend = self.text("backend") or "auto"
        prepared = self.prepare_filter(backend)
        for option in JAIL_OPTIONS:
            self.read(option)
        for option in ("port", "protocol"):
            # informational only: fail2ban never interpolates them unless an action uses them
            with contextlib.suppress(ConfigError):
                found = self.confset.get(self.name, option)
                if found is not None:
                    self.values[option] = found
        backend = self.text("backend") or "auto"
        flt = self.load_filter(prepared, backend)
        actions = self.load_actions()
        known = set(_EXPOSED)
        extra = {
            key: raw.text
            for key, raw in self.confset.sections.get(self.name, {}).items()
            if key not in known and not key.startswith("known/")
        }
        return JailConfig(
            name=self.name,
            filter=flt,
            actions=actions,
            logpath=self.logpaths(),
            backend=backend,
            maxretry=self.convert("maxretry", int, 3, "not an integer"),
            maxmatches=self.convert("maxmatches", int, None, "not an integer"),
            findtime=self.seconds("findtime", 600.0),
            bantime=self.seconds("bantime", 600.0),
            bantime_increment=self.increment(),
            ignoreip=_split_words(self.text("ignoreip") or ""),
            ignoreself=self.truth("ignoreself", True),
            ignorecommand=self.text("ignorecommand") or None,
            ignorecache=self.text("ignorecache") or None,
            usedns=self.text("usedns") or "warn",
            logencoding=self.text("logencoding") or "auto",
            logtimezone=self.text("logtimezone") or None,
            journalmatch=flt.journalmatch if flt is not None else (),
            port=self.text("port"),
            protocol=self.text("protocol"),
            allow_backtracking=self.allow_backtracking,
            fleet=self.text("fleet") or "",
            **self.smart(),  # type: ignore[arg-type]
            extra=extra,
            origins={key: value.origin for key, value in self.values.items()},
        )


def _settings(config_dir: str, cache: FileCache) -> tuple[dict[str, Value], ConfigSet | None]:
    confset = read_layered(config_dir, "warden", cache) or read_layered(
        config_dir, "fail2ban", cache
    )
    if confset is None:
        return {}, None
    settings: dict[str, Value] = {}
    for section in ("Definition", "Thread", "DEFAULT"):
        for option in confset.own_options(section):
            found = confset.get(section, option)
            if found is not None:
                settings.setdefault(option, found)
    return settings, confset


def load_jails(config_dir: str | os.PathLike[str], cache: FileCache | None = None) -> JailsConfig:
    """Read every jail of ``config_dir`` and fully resolve the enabled ones.

    Raises ConfigError only when the jail files themselves cannot be read or parsed; problems
    inside a jail are collected in ``errors`` and that jail is left out.
    """
    directory = os.fspath(config_dir)
    cache = cache or FileCache()
    settings, main_conf = _settings(directory, cache)
    fleet, fleet_errors = read_fleet(main_conf)
    confset = read_layered(directory, "jail", cache)
    if confset is None:
        raise ConfigError(f"no jail.conf or jail.local in {directory}", file=directory)
    builtin = Origin("<built-in>")
    confset.defaults["fail2ban_version"] = RawValue(__version__, builtin)
    confset.defaults["fail2ban_confpath"] = RawValue(directory.rstrip("/"), builtin)
    jails: list[JailConfig] = []
    disabled: list[str] = []
    errors: list[ConfigError] = list(fleet_errors)
    warnings: list[ConfigError] = []
    bad_enabled: set[Origin] = set()
    for name in confset.section_names():
        if name == "INCLUDES":
            continue
        builder = _Jail(confset, name, directory, cache)
        enabled = builder.read("enabled")
        if enabled is not None and truth_value(enabled.text or "false") is None:
            if enabled.origin not in bad_enabled:  # a [DEFAULT] line: said once
                bad_enabled.add(enabled.origin)
                builder.fail(f"enabled = {enabled.text!r}: not a truth value "
                             "(use true or false); the jail is skipped", enabled.origin)
            errors += builder.errors
            continue
        if enabled is None or not as_bool(enabled.text):
            disabled.append(name)
            continue
        jail = builder.build()
        if not builder.errors:
            builder.errors += jail_problems(jail)
        if builder.errors:
            errors += sorted(builder.errors, key=lambda e: (e.file or "", e.line or 0))
        else:
            jails.append(jail)
            warnings += jail_warnings(jail)
    known = known_names(directory, _EXPOSED, cache.paths())
    return JailsConfig(
        directory, settings, tuple(jails), tuple(disabled), tuple(errors), confset.files,
        tuple(unknown_option_warnings(confset, known)) + tuple(_once(warnings)), fleet,
    )


def load_jail_action(config_dir: str | os.PathLike[str], jail: str, reference: str,
                     cache: FileCache | None = None) -> ActionConfig:
    """The action ``reference`` (``name`` or ``name[k=v, ...]``) resolved for the jail ``jail``
    of ``config_dir`` as an ``action = reference`` line of that jail would resolve it (the
    jail's options as variables): fail2ban-client's ``set JAIL addaction``.

    Raises ConfigError if the reference does not parse or the action cannot be loaded.
    """
    directory = os.fspath(config_dir)
    cache = cache or FileCache()
    confset = read_layered(directory, "jail", cache)
    if confset is None:
        raise ConfigError(f"no jail.conf or jail.local in {directory}", file=directory)
    confset.defaults["fail2ban_version"] = RawValue(__version__, Origin("<built-in>"))
    confset.defaults["fail2ban_confpath"] = RawValue(directory.rstrip("/"), Origin("<built-in>"))
    builder = _Jail(confset, jail, directory, cache)
    for option in (*JAIL_OPTIONS, "port", "protocol"):
        with contextlib.suppress(ConfigError):
            builder.read(option)
    try:
        parsed = parse_reference(reference.strip())
    except ValueError as exc:
        raise ConfigError(f"[{jail}] invalid action reference {reference!r}: {exc}") from None
    return load_action(directory, parsed, jail=jail, jail_options=builder.variables(),
                       origin=Origin("<set at run time>"), cache=cache)


def _once(warnings: list[ConfigError]) -> list[ConfigError]:
    """``warnings`` without repeats: a filter used by several jails is flagged once."""
    seen: set[tuple[str, str | None, int | None]] = set()
    found: list[ConfigError] = []
    for warning in warnings:
        key = (warning.message.split(": ", 1)[-1], warning.file, warning.line)
        if key not in seen:
            seen.add(key)
            found.append(warning)
    return found
