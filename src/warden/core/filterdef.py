"""The typed description of one filter, as the configuration reader produces it.

The configuration layer resolves includes, interpolation and ``[Init]`` parameters and hands the
core this frozen value; ``warden.core.filter`` compiles it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["FilterDefinition", "Origin"]


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a value was defined: file path and 1-based line number (``None`` if unknown)."""

    file: str
    line: int | None = None


@dataclass(frozen=True, slots=True)
class FilterDefinition:
    """A filter with every option fully interpolated.

    ``failregex``/``ignoreregex`` hold one regex per non-empty line of the option, in order;
    ``successregex`` (warden's own) the lines of successful logins, read only by jails with
    ``trustsuccess``.
    ``origins`` maps an option name (``failregex``, ``ignoreregex``, ``prefregex``,
    ``datepattern``, ``maxlines``, ...) to where it was defined, for error messages.
    """

    name: str
    failregex: tuple[str, ...] = ()
    ignoreregex: tuple[str, ...] = ()
    prefregex: str | None = None
    datepattern: str | None = None
    maxlines: int = 1
    journalmatch: tuple[str, ...] = ()
    logtimezone: str | None = None
    successregex: tuple[str, ...] = ()
    origins: dict[str, Origin] = field(default_factory=dict, compare=False, hash=False)
