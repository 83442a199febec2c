"""The typed jail model :func:`warden.config.jail.load_jails` produces."""

from __future__ import annotations

from dataclasses import dataclass, field

from warden.config.action import ActionConfig
from warden.config.confset import Value
from warden.config.fleet import FleetConfig
from warden.core.escalate import Escalation
from warden.core.filterdef import FilterDefinition, Origin
from warden.errors import ConfigError

__all__ = ["BanTimeIncrement", "JailConfig", "JailsConfig", "LogPath"]


@dataclass(frozen=True, slots=True)
class LogPath:
    """A ``logpath`` line: a glob pattern and where to start reading (``head`` or ``tail``)."""

    pattern: str
    start: str = "head"


@dataclass(frozen=True, slots=True)
class BanTimeIncrement:
    """The ``bantime.*`` options (growing ban times for repeat offenders)."""

    enabled: bool = False
    factor: float = 1.0
    formula: str | None = None
    multipliers: tuple[float, ...] = ()
    maxtime: float | None = None
    rndtime: float | None = None
    overalljails: bool = False


@dataclass(frozen=True, slots=True)
class JailConfig:
    """One enabled jail, fully resolved. Durations are seconds (``-1``: forever)."""

    name: str
    filter: FilterDefinition | None
    actions: tuple[ActionConfig, ...]
    logpath: tuple[LogPath, ...] = ()
    backend: str = "auto"
    maxretry: int = 3
    maxmatches: int | None = None
    findtime: float = 600.0
    bantime: float = 600.0
    bantime_increment: BanTimeIncrement = BanTimeIncrement()
    ignoreip: tuple[str, ...] = ()
    ignoreself: bool = True
    ignorecommand: str | None = None
    ignorecache: str | None = None
    usedns: str = "warn"
    logencoding: str = "auto"
    logtimezone: str | None = None
    journalmatch: tuple[str, ...] = ()
    port: str | None = None
    protocol: str | None = None
    #: the filter sets ``backtracking = allow``: keep regexes the linter proves exponential
    allow_backtracking: bool = False
    #: what the jail shares with the fleet (``""``: the default, see config.fleet.fleet_mode)
    fleet: str = ""
    #: warden's own (issue 14): ban and count by covering network, escalation, trust
    banprefix4: int = 32
    banprefix6: int = 128
    countprefix4: int | None = None
    countprefix6: int | None = None
    escalate: tuple[Escalation, ...] = ()
    trustsuccess: float | None = None
    trustmaxretry: int | None = None
    extra: dict[str, str] = field(default_factory=dict, compare=False)
    origins: dict[str, Origin] = field(default_factory=dict, compare=False)


@dataclass(frozen=True, slots=True)
class JailsConfig:
    """Everything ``load_jails`` found: global settings, enabled jails, problems (each a
    reason a jail is left out) and warnings (advice that changes nothing)."""

    config_dir: str
    settings: dict[str, Value]
    jails: tuple[JailConfig, ...]
    disabled: tuple[str, ...]
    errors: tuple[ConfigError, ...]
    files: tuple[str, ...] = ()
    warnings: tuple[ConfigError, ...] = ()
    #: the ``[Fleet]`` section of warden.conf (None: this host is in no fleet)
    fleet: FleetConfig | None = None
