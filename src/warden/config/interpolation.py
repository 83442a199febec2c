"""``%(name)s`` interpolation with fail2ban's extensions.

- ``%(name)s`` looks ``name`` up (lower-cased) in the call's variables, then the section being
  read, then ``[DEFAULT]``; the found text is interpolated again (at most 10 levels deep).
- ``%%`` is a literal ``%``; any other ``%`` is an error.
- ``%(__name__)s`` is the name of the section being read.
- ``%(section/name)s`` is ``name`` of another section, ``%(default/name)s`` the ``[DEFAULT]``
  one and ``%(known/name)s`` the value ``name`` had in this section before the file being
  read last overrode it (falling back to ``[DEFAULT]``). Such references are resolved only
  when no variable with that literal name exists.

Expansion is bounded by size as well as depth: ten levels of ten references each would
otherwise build a gigabyte (a "billion laughs"), so the text one value makes the expander read
and write may total at most :data:`MAX_SIZE` bytes.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from warden.errors import ConfigError

__all__ = [
    "MAX_DEPTH",
    "MAX_SIZE",
    "InterpolationError",
    "Lookup",
    "SectionRefs",
    "interpolate",
]

MAX_DEPTH = 10
#: bytes of text one interpolation may read and write in total (1 MiB)
MAX_SIZE = 1 << 20

_REFERENCE = re.compile(r"%\(([^)]+)\)s")
_SECTION_REFERENCE = re.compile(r"%\(([\w\-]+)/([^)]+)\)s")

#: finds a name in the current scope (variables, section, defaults) or returns None
Lookup = Callable[[str], "str | None"]
#: resolves a ``section/name`` reference to raw text, or None when it cannot
SectionRefs = Callable[[str, str], "str | None"]


class InterpolationError(ConfigError):
    """A ``%(...)s`` reference that cannot be resolved (the caller adds file and line)."""


@dataclass(slots=True)
class _Scope:
    section: str
    lookup: Lookup
    section_refs: SectionRefs
    extra: dict[str, str]
    #: bytes still allowed (shared by the scopes of one interpolation: a one-element list)
    budget: list[int]

    def get(self, name: str) -> str | None:
        if name == "__name__":
            return self.section
        found = self.extra.get(name)
        return found if found is not None else self.lookup(name)

    def with_section_refs(self, text: str) -> _Scope:
        """Copy of this scope where the ``section/name`` references of ``text`` are bound."""
        if "/" not in text or "%(" not in text:
            return self
        extra = dict(self.extra)
        for match in _SECTION_REFERENCE.finditer(text):
            full = f"{match.group(1)}/{match.group(2)}"
            if full in extra or self.lookup(full) is not None:
                continue
            raw = self.section_refs(match.group(1), match.group(2))
            if raw is not None:
                extra[full] = raw
        return _Scope(self.section, self.lookup, self.section_refs, extra, self.budget)

    def spend(self, option: str, size: int) -> None:
        """Count ``size`` bytes of work; an error once the whole interpolation exceeds
        :data:`MAX_SIZE` (values whose references multiply at every level)."""
        self.budget[0] -= size
        if self.budget[0] < 0:
            raise InterpolationError(
                f"[{self.section}] {option}: interpolation of {option} grows beyond "
                f"{MAX_SIZE} bytes (references that multiply at every level?)"
            )


def _expand(scope: _Scope, option: str, text: str, depth: int, out: list[str]) -> None:
    if depth > MAX_DEPTH:
        raise InterpolationError(
            f"[{scope.section}] {option}: %(...)s references nest deeper than {MAX_DEPTH} "
            "levels (a reference loop?)"
        )
    # every text read counts, so references that expand to nothing are bounded too
    scope.spend(option, len(text))
    scope = scope.with_section_refs(text)
    rest = text
    while rest:
        percent = rest.find("%")
        if percent < 0:
            out.append(rest)
            return
        out.append(rest[:percent])
        rest = rest[percent:]
        follower = rest[1:2]
        if follower == "%":
            out.append("%")
            rest = rest[2:]
            continue
        if follower != "(":
            raise InterpolationError(
                f"[{scope.section}] {option}: '%' must be followed by '%' or '(name)s', "
                f"found {rest[:20]!r} (write '%%' for a literal percent sign)"
            )
        match = _REFERENCE.match(rest)
        if match is None:
            raise InterpolationError(
                f"[{scope.section}] {option}: malformed reference {rest[:30]!r} "
                "(expected '%(name)s')"
            )
        name = match.group(1).lower()
        rest = rest[match.end() :]
        value = scope.get(name)
        if value is None:
            raise InterpolationError(
                f"[{scope.section}] {option}: %({name})s is not defined "
                f"(not in [{scope.section}] nor in [DEFAULT])"
            )
        if "%" in value:
            _expand(scope, option, value, depth + 1, out)
        else:
            scope.spend(option, len(value))
            out.append(value)


def interpolate(
    text: str,
    *,
    section: str,
    option: str,
    lookup: Lookup,
    section_refs: SectionRefs,
    variables: Mapping[str, str] | None = None,
) -> str:
    """Expand every ``%(...)s`` of ``text``, read as option ``option`` of ``section``.

    ``lookup`` resolves plain names in scope; ``section_refs(section, name)`` resolves
    ``section/name`` references. Raises InterpolationError on an unknown name, a loop (more
    than :data:`MAX_DEPTH` levels), a result beyond :data:`MAX_SIZE` or a stray ``%``.
    """
    extra = {key.lower(): value for key, value in (variables or {}).items()}
    scope = _Scope(section, lookup, section_refs, extra, [MAX_SIZE])
    out: list[str] = []
    _expand(scope, option, text, 1, out)
    return "".join(out)
