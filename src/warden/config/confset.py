"""A layered configuration: ``X.conf``, ``X.d/*.conf``, ``X.local``, ``X.d/*.local`` and includes.

Files are merged in fail2ban's order. Each file's ``[INCLUDES] before`` files come before it and
its ``after`` files after it (recursively, relative to the including file's directory), and
every file ``F.conf`` read is followed by ``F.local`` when that exists. Later files override
earlier ones option by option; the overridden values stay reachable as ``%(known/name)s`` and
``<known/name>``. A section named ``name?key=value`` is stored as section ``name`` with every
option renamed ``option?key=value`` (fail2ban's conditional sections, used by actions).
Includes nest at most :data:`MAX_INCLUDE_DEPTH` files deep; deeper chains are an error that
names the chain (instead of exhausting Python's stack).
"""

from __future__ import annotations

import glob
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from warden.config.ini import DEFAULT_SECTION, IniFile, RawValue, read_ini
from warden.config.interpolation import InterpolationError, interpolate
from warden.core.filterdef import Origin
from warden.errors import ConfigError

__all__ = [
    "MAX_INCLUDE_DEPTH",
    "ConfigSet",
    "FileCache",
    "Value",
    "layered_files",
    "read_layered",
    "read_set",
    "same_lines",
]

INCLUDES_SECTION = "INCLUDES"
#: files an include chain may hold (fail2ban's stock tree needs 3)
MAX_INCLUDE_DEPTH = 64
KNOWN_PREFIX = "KNOWN/"
_CONDITIONAL = re.compile(r"^(\w+)(\?.+)$")
_QUALIFIED = re.compile(r"^([\w\-]+)/([^\s>]+)$")


@dataclass(frozen=True, slots=True)
class Value:
    """An interpolated option value and where the option was written."""

    text: str
    origin: Origin
    #: the file line of each line of ``text``, when interpolation kept them apart (else empty)
    lines: tuple[int, ...] = field(default=(), compare=False)


class FileCache:
    """Parsed files by path, so a file included by many others is parsed once per load."""

    def __init__(self) -> None:
        self._files: dict[str, IniFile] = {}

    def get(self, path: str) -> IniFile:
        """The parsed file at ``path`` (ConfigError if unreadable or malformed)."""
        cached = self._files.get(path)
        if cached is None:
            cached = self._files[path] = read_ini(path)
        return cached

    def paths(self) -> list[str]:
        """Every file read so far."""
        return list(self._files)


class ConfigSet:
    """Merged sections of several files with fail2ban's lookup and interpolation rules."""

    def __init__(self, files: Sequence[str]) -> None:
        self.files = tuple(files)
        self.defaults: dict[str, RawValue] = {}
        self.sections: dict[str, dict[str, RawValue]] = {}

    def merge(self, ini: IniFile) -> None:
        """Lay ``ini`` over what is already there."""
        self.defaults.update(ini.defaults)
        for name, options in ini.sections.items():
            conditional = _CONDITIONAL.match(name)
            if conditional:
                name, condition = conditional.groups()
                options = {key + condition: value for key, value in options.items()}
            existing = self.sections.get(name)
            if existing is None:
                self.sections[name] = dict(options)
                continue
            known = self.sections.setdefault(KNOWN_PREFIX + name, {})
            known.update({key: existing[key] for key in existing if key in options})
            existing.update(options)

    def section_names(self) -> list[str]:
        """Sections in first-seen order, without the internal ``KNOWN/`` ones."""
        return [name for name in self.sections if not name.startswith(KNOWN_PREFIX)]

    def has_section(self, section: str) -> bool:
        """True if ``section`` exists (``DEFAULT`` always exists)."""
        return section == DEFAULT_SECTION or section in self.sections

    def own_options(self, section: str) -> list[str]:
        """Option names written in ``section`` itself (not inherited from ``[DEFAULT]``)."""
        if section == DEFAULT_SECTION:
            return list(self.defaults)
        return list(self.sections.get(section, {}))

    def raw(
        self, section: str, option: str, variables: Mapping[str, RawValue] | None = None
    ) -> RawValue | None:
        """The uninterpolated value seen from ``section`` (variables, section, defaults)."""
        key = option.lower()
        if variables:
            found = {k.lower(): v for k, v in variables.items()}.get(key)
            if found is not None:
                return found
        if section != DEFAULT_SECTION:
            own = self.sections.get(section)
            if own is not None and key in own:
                return own[key]
        return self.defaults.get(key)

    def get(
        self, section: str, option: str, variables: Mapping[str, RawValue] | None = None
    ) -> Value | None:
        """The interpolated value of ``option`` seen from ``section``, or None if undefined.

        Raises ConfigError (naming the option's file and line) when interpolation fails.
        """
        if not self.has_section(section):
            return None
        raw = self.raw(section, option, variables)
        if raw is None:
            return None
        text = self.interpolate(section, option, raw, variables)
        return Value(text, raw.origin, same_lines(text, raw.lines))

    def interpolate(
        self,
        section: str,
        option: str,
        raw: RawValue,
        variables: Mapping[str, RawValue] | None = None,
    ) -> str:
        """Expand the ``%(...)s`` references of ``raw`` as if read from ``section``."""
        if "%" not in raw.text:
            return raw.text
        own = self.sections.get(section, {}) if section != DEFAULT_SECTION else {}

        def lookup(name: str) -> str | None:
            found = own.get(name) or self.defaults.get(name)
            return found.text if found is not None else None

        try:
            return interpolate(
                raw.text,
                section=section,
                option=option.lower(),
                lookup=lookup,
                section_refs=lambda sec, name: self._section_ref(section, sec, name),
                variables={k: v.text for k, v in (variables or {}).items()},
            )
        except InterpolationError as exc:
            raise exc.located(raw.origin.file, raw.origin.line) from None

    def _section_ref(self, current: str, section: str, name: str) -> str | None:
        lowered = section.lower()
        found: RawValue | None = None
        if lowered == "known":
            found = self.sections.get(KNOWN_PREFIX + current, {}).get(name)
        elif lowered != "default":
            target = self.sections.get(section)
            if target is None:
                return None
            found = target.get(name)
        if found is None:
            found = self.defaults.get(name)
        return found.text if found is not None else None

    def get_qualified(
        self, section: str, name: str, variables: Mapping[str, RawValue] | None = None
    ) -> Value | None:
        """Like :meth:`get`, but ``name`` may be ``section/option`` or ``known/option``.

        ``known/option`` is the value before the last override, else the current one.
        """
        qualified = _QUALIFIED.search(name) if "/" in name else None
        if qualified:
            target, option = qualified.groups()
            if target.lower() == "known":
                candidates = [KNOWN_PREFIX + section, section]
            elif target.lower() == "default":
                candidates = [DEFAULT_SECTION]
            else:
                candidates = [target]
            for candidate in candidates:
                found = self.get(candidate, option)
                if found is not None:
                    return found
        return self.get(section, name, variables)


def same_lines(text: str, lines: tuple[int, ...]) -> tuple[int, ...]:
    """``lines`` if ``text`` still has one line per entry, else ``()``.

    Substitution only ever adds line breaks, so an unchanged line count means every line of
    the result comes from the line of the same rank.
    """
    return lines if text.count("\n") + 1 == len(lines) else ()


def _include_targets(ini: IniFile, option: str) -> list[tuple[str, Origin]]:
    section = ini.sections.get(INCLUDES_SECTION)
    raw = section.get(option) if section else None
    if raw is None:
        return []
    single = ConfigSet([ini.path])
    single.merge(ini)
    text = single.interpolate(INCLUDES_SECTION, option, raw)
    base = os.path.dirname(ini.path)
    return [
        (name if os.path.isabs(name) else os.path.join(base, name), raw.origin)
        for name in text.split("\n")
        if name.strip()
    ]


def _with_locals(paths: Sequence[str]) -> list[str]:
    out: list[str] = []
    for path in paths:
        out.append(path)
        local = os.path.splitext(path)[0] + ".local"
        if local not in paths and os.path.isfile(local):
            out.append(local)
    return out


def _expand(paths: Sequence[str], chain: list[str], cache: FileCache) -> list[str]:
    out: list[str] = []
    for path in _with_locals(paths):
        ini = cache.get(path)
        parts: list[list[str]] = []
        for option in ("before", "after"):
            found: list[str] = []
            for target, origin in _include_targets(ini, option):
                if target in chain:
                    continue
                if not os.path.exists(target):
                    if target.endswith(".local"):
                        continue  # optional override files, by convention
                    raise ConfigError(
                        f"included file {target} does not exist",
                        file=origin.file,
                        line=origin.line,
                    )
                if len(chain) + 1 >= MAX_INCLUDE_DEPTH:
                    raise ConfigError(
                        f"includes nest deeper than {MAX_INCLUDE_DEPTH} files: "
                        f"{_chain_text([*chain, path, target])}",
                        file=origin.file,
                        line=origin.line,
                    )
                found += _expand([target], [*chain, path], cache)
            parts.append(found)
        out += [*parts[0], path, *parts[1]]
    return out


def _chain_text(chain: Sequence[str]) -> str:
    """``a.conf -> b.conf -> ...``, paths relative to the first file's directory; a long
    chain keeps its first three and last three files (enough to see where it starts and
    which files repeat)."""
    base = os.path.dirname(chain[0])
    names = [os.path.relpath(path, base) for path in chain]
    if len(names) > 8:
        names = [*names[:3], f"... ({len(names) - 6} more)", *names[-3:]]
    return " -> ".join(names)


def read_set(paths: Sequence[str], cache: FileCache | None = None) -> ConfigSet:
    """Read ``paths`` (which must exist) with their includes and ``.local`` companions."""
    cache = cache or FileCache()
    files = _expand(list(paths), [], cache)
    merged = ConfigSet(files)
    for path in files:
        merged.merge(cache.get(path))
    return merged


def layered_files(base_dir: str, name: str) -> list[str]:
    """The existing files of ``name`` under ``base_dir``, in fail2ban's read order."""
    base = os.path.join(base_dir, name)
    candidates = [
        base + ".conf",
        *sorted(glob.glob(glob.escape(base + ".d") + "/*.conf")),
        base + ".local",
        *sorted(glob.glob(glob.escape(base + ".d") + "/*.local")),
    ]
    return [path for path in candidates if os.path.exists(path)]


def read_layered(base_dir: str, name: str, cache: FileCache | None = None) -> ConfigSet | None:
    """Read ``name`` (``jail``, ``filter.d/sshd``, ...) under ``base_dir``; None if no file."""
    files = layered_files(base_dir, name)
    if not files:
        return None
    return read_set(files, cache)
