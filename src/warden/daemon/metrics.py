"""The daemon's Prometheus metrics: a few counters kept as things happen, the rest read at
scrape time, written in Prometheus' text exposition format (version 0.0.4) by hand.

Hand-written rather than ``prometheus_client``: the format is small and stable, the daemon
keeps its standard-library-only rule, and a scrape reads the jails' own counters (failures,
tracked addresses, evictions, active bans) instead of mirroring them on the hot path.

What is counted as it happens costs a few operations per batch, never per line: lines read
(per read block, in :class:`~warden.daemon.runtime.Runtime`), bans and unbans by cause (per
decision, told by the runtime), store write and backend commit durations (per transaction).
"""

from __future__ import annotations

import bisect
import platform
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from warden import __version__
from warden.core.decisions import Ban, Unban
from warden.daemon.runtime import JailSlot
from warden.protocol import FleetInfo
from warden.sources.base import SourceState, SourceStatus

__all__ = ["CONTENT_TYPE", "Histogram", "Metrics", "Scrape"]

#: the Content-Type of the text exposition format
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# seconds: a store transaction is a few ms; an nft batch 5-50 ms; a command action up to 30 s
_STORE_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
_BACKEND_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                    10.0, 30.0)


@dataclass(slots=True)
class Histogram:
    """Observations in cumulative buckets, as Prometheus histograms count them."""

    bounds: tuple[float, ...]
    counts: list[int] = field(default_factory=list)
    total: float = 0.0
    count: int = 0

    def __post_init__(self) -> None:
        self.counts = [0] * (len(self.bounds) + 1)

    def observe(self, value: float) -> None:
        """Count one observation of ``value``."""
        self.counts[bisect.bisect_left(self.bounds, value)] += 1
        self.total += value
        self.count += 1

    def lines(self, name: str, labels: str) -> Iterable[str]:
        """The ``_bucket``, ``_sum`` and ``_count`` samples (``labels``: ``k="v",`` or empty)."""
        running = 0
        for bound, n in zip(self.bounds, self.counts, strict=False):
            running += n
            yield f'{name}_bucket{{{labels}le="{_number(bound)}"}} {running}'
        yield f'{name}_bucket{{{labels}le="+Inf"}} {self.count}'
        plain = f"{{{labels.rstrip(',')}}}" if labels else ""
        yield f"{name}_sum{plain} {_number(self.total)}"
        yield f"{name}_count{plain} {self.count}"


@dataclass(frozen=True, slots=True)
class Scrape:
    """What a scrape reads from the daemon at that moment."""

    jails: Mapping[str, JailSlot]
    lines_read: Mapping[str, int]
    sources: Iterable[tuple[str, Sequence[SourceStatus]]]
    #: event stream readers connected, and the events they lost in all
    subscribers: int = 0
    events_dropped: int = 0
    #: the fleet link's state (None: this host runs no fleet, and no fleet series are shown)
    fleet: FleetInfo | None = None


class Metrics:
    """The counters kept as things happen, and :meth:`render` of every series.

    It is a :class:`~warden.daemon.runtime.Observer` of the runtime, and the enforcer's
    ``on_commit``."""

    wants_failures = False  # failures are read from the jails' own counters at scrape time

    def __init__(self, started: float) -> None:
        self.started = started
        self.bans: dict[tuple[str, str], int] = {}
        self.unbans: dict[tuple[str, str], int] = {}
        self.store_latency = Histogram(_STORE_BUCKETS)
        self.store_errors = 0
        self.backend_latency: dict[str, Histogram] = {}
        self.backend_errors: dict[str, int] = {}
        self.scrapes = 0

    # -- told by the runtime and the enforcer ---------------------------------------------
    def decided(self, bans: Sequence[Ban], unbans: Sequence[Unban], cause: str) -> None:
        """Count bans and unbans by jail and cause (an expired unban's cause is ``expired``)."""
        counts = self.bans
        for ban in bans:
            if not ban.restored:
                key = (ban.jail, cause)
                counts[key] = counts.get(key, 0) + 1
        counts = self.unbans
        for unban in unbans:
            key = (unban.jail, "expired" if unban.reason == "expired" else cause)
            counts[key] = counts.get(key, 0) + 1

    def stored(self, seconds: float, ok: bool) -> None:
        """One store transaction."""
        self.store_latency.observe(seconds)
        if not ok:
            self.store_errors += 1

    def failures(self, jail: str, found: Sequence[tuple[str, float]]) -> None:
        """Not used: ``warden_failures_total`` reads the jail's own count."""

    def committed(self, backend: str, seconds: float, ok: bool) -> None:
        """One commit round of ``backend``."""
        hist = self.backend_latency.get(backend)
        if hist is None:
            hist = self.backend_latency[backend] = Histogram(_BACKEND_BUCKETS)
            self.backend_errors[backend] = 0
        hist.observe(seconds)
        if not ok:
            self.backend_errors[backend] += 1

    # -- the exposition --------------------------------------------------------------------
    def render(self, scrape: Scrape) -> str:
        """Every series, in the text exposition format."""
        self.scrapes += 1
        out: list[str] = []
        add = _Writer(out)
        add.family("warden_build_info", "gauge", "warden's version (the value is 1)")
        add.sample("warden_build_info", 1, version=__version__,
                   python=platform.python_version())
        add.family("warden_start_time_seconds", "gauge", "when the daemon started (Unix time)")
        add.sample("warden_start_time_seconds", self.started)

        add.family("warden_lines_read_total", "counter", "log lines read, per source")
        for source, n in sorted(scrape.lines_read.items()):
            add.sample("warden_lines_read_total", n, source=source)

        jails = sorted(scrape.jails.items())
        per_jail: list[tuple[str, str, str, Callable[[JailSlot], float]]] = [
            ("warden_lines_matched_total", "counter",
             "log lines a failregex matched as a failure, per jail",
             lambda s: s.jail.line_counts()[0]),
            ("warden_lines_ignored_total", "counter",
             "log lines a failregex matched that an ignoreregex dropped or that are no "
             "failure by themselves, per jail", lambda s: s.jail.line_counts()[1]),
            ("warden_failures_total", "counter",
             "failures counted (after ignoreip and ignorecommand)",
             lambda s: s.jail.total_failed),
            ("warden_bans_active", "gauge", "bans in force", lambda s: len(s.jail.bans)),
            ("warden_tracked_addresses", "gauge", "addresses with failures within findtime",
             lambda s: len(s.jail.tracker)),
            ("warden_tracked_evictions_total", "counter",
             "addresses evicted from tracking because it was full",
             lambda s: s.jail.tracker.evicted),
        ]
        for name, kind, help_text, read in per_jail:
            add.family(name, kind, help_text)
            for jail, slot in jails:
                add.sample(name, read(slot), jail=jail)

        for name, counts, what in (("warden_bans_total", self.bans, "bans decided"),
                                   ("warden_unbans_total", self.unbans, "bans lifted")):
            add.family(name, "counter", f"{what}, by jail and cause (local, manual, fleet"
                                        f"{', expired' if 'unban' in name else ''})")
            for (jail, cause), n in sorted(counts.items()):
                add.sample(name, n, jail=jail, cause=cause)

        add.family("warden_backend_batch_duration_seconds", "histogram",
                   "time of one commit round of a firewall backend")
        for backend, hist in sorted(self.backend_latency.items()):
            out.extend(hist.lines("warden_backend_batch_duration_seconds",
                                  f'backend="{_escape(backend)}",'))
        add.family("warden_backend_errors_total", "counter",
                   "commit rounds that failed or timed out")
        for backend, n in sorted(self.backend_errors.items()):
            add.sample("warden_backend_errors_total", n, backend=backend)

        add.family("warden_store_write_duration_seconds", "histogram",
                   "time of one state database transaction (bans and unbans of a batch)")
        out.extend(self.store_latency.lines("warden_store_write_duration_seconds", ""))
        add.family("warden_store_errors_total", "counter", "state database writes that failed")
        add.sample("warden_store_errors_total", self.store_errors)

        states = list(scrape.sources)
        add.family("warden_source_restarts_total", "counter",
                   "restarts of a log source after it failed")
        for source, entries in states:
            add.sample("warden_source_restarts_total",
                       max((e.restarts for e in entries), default=0), source=source)
        add.family("warden_source_up", "gauge", "1 if the log is being read, else 0")
        for source, entries in states:
            for entry in entries:
                add.sample("warden_source_up", int(entry.state is SourceState.OK),
                           source=source, path=entry.path)

        if scrape.fleet is not None:
            self._fleet(add, scrape.fleet)
        add.family("warden_event_subscribers", "gauge", "readers of 'warden events'")
        add.sample("warden_event_subscribers", scrape.subscribers)
        add.family("warden_events_dropped_total", "counter",
                   "events lost by readers that did not keep up")
        add.sample("warden_events_dropped_total", scrape.events_dropped)
        out.append("")
        return "\n".join(out)


    @staticmethod
    def _fleet(add: _Writer, fleet: FleetInfo) -> None:
        for name, kind, help_text, value in (
            ("warden_fleet_connected", "gauge", "1 while the fleet's Redis is reachable",
             int(fleet.connected)),
            ("warden_fleet_peers", "gauge", "other hosts of the fleet seen lately",
             len(fleet.peers)),
            ("warden_fleet_lag_seconds", "gauge",
             "how far this host's reading of the fleet's stream is behind its newest entry",
             fleet.lag),
            ("warden_fleet_outbox", "gauge", "decisions waiting to be published (Redis away)",
             fleet.outbox),
            ("warden_fleet_published_total", "counter", "decisions published to the fleet",
             fleet.published),
            ("warden_fleet_applied_total", "counter", "decisions of other hosts applied",
             fleet.applied),
            ("warden_fleet_refused_total", "counter",
             "decisions of other hosts refused (ignoreip, own addresses)", fleet.refused)):
            add.family(name, kind, help_text)
            add.sample(name, value, host=fleet.name)


class _Writer:
    def __init__(self, out: list[str]) -> None:
        self.out = out

    def family(self, name: str, kind: str, help_text: str) -> None:
        self.out.append(f"# HELP {name} {help_text}")
        self.out.append(f"# TYPE {name} {kind}")

    def sample(self, name: str, value: float, **labels: str) -> None:
        if labels:
            text = ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items())
            self.out.append(f"{name}{{{text}}} {_number(value)}")
        else:
            self.out.append(f"{name} {_number(value)}")


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(value: float) -> str:
    if isinstance(value, int) or float(value).is_integer():
        return str(int(value))
    return repr(float(value))
