"""Carrying bans to the firewall, off the detection path, batched, with timeouts.

The runtime records a ban in the store first and then :meth:`Enforcer.submit` s it; one task
(:meth:`Enforcer.run`) takes everything submitted since its last round and gives it to each
backend in one commit, in a worker thread (backends run short blocking commands), bounded by a
timeout. While a commit runs, new bans queue up, so a burst of 10,000 bans costs a handful
of commits rather than 10,000.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Collection,
    Iterable,
    Mapping,
    Sequence,
)
from dataclasses import dataclass, field

from warden.backends.base import (
    BanEntry,
    FirewallBackend,
    Held,
    JailRule,
    Network,
    Reconciled,
    UnbanEntry,
)
from warden.errors import BackendError

__all__ = ["Enforcer", "KernelView", "Route"]

log = logging.getLogger("warden.enforce")


@dataclass(slots=True)
class Route:
    """The backends (by name) that enforce one jail's bans, and the jail's rule for them."""

    rule: JailRule
    backends: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class KernelView:
    """What the firewall holds per jail, and the (backend, jail) pairs it could not read."""

    held: dict[str, dict[Network, Held]]
    unread: frozenset[tuple[str, str]] = frozenset()


@dataclass(slots=True)
class _Round:
    # in submission order: a ban then an unban of one address must end unbanned
    ops: list[BanEntry | UnbanEntry] = field(default_factory=list)
    done: list[asyncio.Future[None]] = field(default_factory=list)


class _Lane:
    """One backend's queue: its rounds run one after another, lanes run side by side."""

    def __init__(self) -> None:
        self.next = _Round()
        self.wake = asyncio.Event()
        # held by a commit round, or by a reconciliation that must see a still kernel
        self.busy = asyncio.Lock()


class Enforcer:
    """The one writer to the backends: one lane (queue and task) per backend, so a slow
    command action never holds up the nftables commits of other jails."""

    def __init__(self, backends: dict[str, FirewallBackend], *, timeout: float = 30.0,
                 clock: Callable[[], float] = time.time,
                 timeouts: Mapping[str, float | None] | None = None) -> None:
        """``backends`` by name (shared: the daemon adds backends as jails need them); each
        command round is bounded by ``timeout`` seconds, or by ``timeouts[name]`` (``None``:
        the backend bounds its own commands)."""
        self.backends = backends
        self.routes: dict[str, Route] = {}
        self.timeout = timeout
        self.timeouts: dict[str, float | None] = dict(timeouts or {})
        self.clock = clock
        self._lanes: dict[str, _Lane] = {}
        self._group: asyncio.TaskGroup | None = None
        self.commits = 0
        self.errors = 0
        #: told of each commit round: (backend, seconds, ok); the metrics histogram
        self.on_commit: Callable[[str, float, bool], None] | None = None

    # -- set-up (before run, and on reload) ------------------------------------------------
    async def start_jails(self, routes: Mapping[str, Route]) -> None:
        """Start the jails' rules on their backends (keeps existing bans)."""
        for backend_name in {b for route in routes.values() for b in route.backends}:
            rules = [r.rule for r in routes.values() if backend_name in r.backends]
            backend = self.backends[backend_name]
            await self._call(backend_name, f"start {backend_name}", backend.start, rules)
        self.routes.update(routes)
        for name in self.backends:
            self._lane(name)

    @contextlib.asynccontextmanager
    async def paused(self) -> AsyncIterator[None]:
        """Hold every lane's commits (they queue meanwhile) while a (re)start reads the kernel,
        decides and reconciles, so no commit of the same jails lands in between."""
        async with contextlib.AsyncExitStack() as stack:
            for name in sorted(self.backends):  # one order: two pausers cannot deadlock
                await stack.enter_async_context(self._lane(name).busy)
            yield

    async def present(self, jails: Collection[str]) -> KernelView:
        """What the firewall holds for each of ``jails``, merged over the jail's backends
        (the longest kernel time wins), and which backends could not be read."""
        found: dict[str, dict[Network, Held]] = {}
        unread: set[tuple[str, str]] = set()
        now = self.clock()
        for jail in jails:
            merged = found.setdefault(jail, {})
            for name in self._route_of(jail):
                held = await self._call(name, f"list {jail} on {name}",
                                        self.backends[name].present, jail, now)
                if not isinstance(held, dict):
                    unread.add((name, jail))
                    continue
                for net, this in held.items():
                    merged[net] = _longer(merged.get(net), this)
        return KernelView(found, frozenset(unread))

    async def reconcile(self, active: Sequence[BanEntry], jails: Collection[str] | None = None,
                        *, unread: Collection[tuple[str, str]] = ()) -> Reconciled:
        """Make each backend agree with ``active`` for ``jails`` (every routed jail if
        ``None``): add missing, remove the rest, never flush, never touch other jails.
        On the (backend, jail) pairs of ``unread`` (their elements could not be read, so
        nothing says what the store did not end) bans are only added."""
        added: list[tuple[str, Network]] = []
        removed: list[tuple[str, Network]] = []
        now = self.clock()
        names = list(self.routes) if jails is None else list(jails)
        for name, backend in self.backends.items():
            mine_jails = [j for j in names if name in self._route_of(j)]
            blind = [j for j in mine_jails if (name, j) in unread]
            seen = [j for j in mine_jails if j not in blind]
            if blind:
                await self._call(name, f"restore {', '.join(blind)} on {name}", self._apply,
                                 backend, [b for b in active if b.jail in blind])
            if not seen:
                continue
            mine = [b for b in active if b.jail in seen]
            result = await self._call(name, f"reconcile {name}", backend.reconcile, mine, now,
                                      seen)
            if isinstance(result, Reconciled):
                added += result.added
                removed += result.removed
        return Reconciled(tuple(added), tuple(removed))

    def _route_of(self, jail: str) -> tuple[str, ...]:
        route = self.routes.get(jail)
        return route.backends if route else ()

    def _lane(self, name: str) -> _Lane:
        lane = self._lanes.get(name)
        if lane is None:
            lane = self._lanes[name] = _Lane()
            if self._group is not None:
                self._group.create_task(self._work(name, lane), name=f"enforce {name}")
        return lane

    # -- the work ----------------------------------------------------------------------------
    def submit(self, bans: Iterable[BanEntry] = (), unbans: Iterable[UnbanEntry] = ()
               ) -> Awaitable[object]:
        """Queue changes (``unbans`` before ``bans``) for each backend's next round; the
        future completes once every backend concerned has committed them."""
        ops: list[BanEntry | UnbanEntry] = [*unbans, *bans]
        loop = asyncio.get_running_loop()
        waits: list[asyncio.Future[None]] = []
        for name in self.backends:
            mine = [op for op in ops if name in self._route_of(op.jail)]
            if not mine:
                continue
            lane = self._lane(name)
            lane.next.ops.extend(mine)
            done: asyncio.Future[None] = loop.create_future()
            lane.next.done.append(done)
            lane.wake.set()
            waits.append(done)
        if not waits:
            finished: asyncio.Future[object] = loop.create_future()
            finished.set_result(None)
            return finished
        return asyncio.gather(*waits)

    async def release(self, jail: str, names: Collection[str]) -> None:
        """Take the backends ``names`` off ``jail``: each drops the jail's bans, and one that
        no jail uses any more is stopped and forgotten (an action removed at run time)."""
        route = self.routes.get(jail)
        if route is not None:
            route.backends = tuple(b for b in route.backends if b not in names)
        for name in names:
            backend = self.backends.get(name)
            if backend is None:
                continue
            await self._call(name, f"flush {jail} on {name}", backend.flush, jail)
            if not any(name in r.backends for r in self.routes.values()):
                await self._call(name, f"stop {name}", backend.stop)
                del self.backends[name]

    async def flush(self, jail: str) -> None:
        """Drop every ban of ``jail`` on its backends."""
        for name in self._route_of(jail):
            await self._call(name, f"flush {jail}", self.backends[name].flush, jail)

    async def run(self) -> None:
        """Run one worker per backend lane until cancelled."""
        async with asyncio.TaskGroup() as group:
            self._group = group
            for name, lane in self._lanes.items():
                group.create_task(self._work(name, lane), name=f"enforce {name}")
            try:
                await asyncio.Future()  # until cancelled; the workers live in the group
            finally:
                self._group = None

    async def _work(self, name: str, lane: _Lane) -> None:
        while True:
            await lane.wake.wait()
            lane.wake.clear()
            current, lane.next = lane.next, _Round()
            await self._commit(name, current)

    async def drain(self) -> None:
        """Commit what is queued now (used when stopping)."""
        for name, lane in self._lanes.items():
            current, lane.next = lane.next, _Round()
            await self._commit(name, current)

    async def _commit(self, name: str, current: _Round) -> None:
        try:
            # a backend released since (an action removed at run time) has nothing to commit
            if current.ops and name in self.backends:
                async with self._lane(name).busy:
                    errors, started = self.errors, time.perf_counter()
                    await self._call(name, f"commit {name}", self._apply, self.backends[name],
                                     current.ops)
                    if self.on_commit is not None:
                        self.on_commit(name, time.perf_counter() - started,
                                       self.errors == errors)
                self.commits += 1
        finally:
            for done in current.done:
                if not done.done():
                    done.set_result(None)

    def _apply(self, backend: FirewallBackend, ops: list[BanEntry | UnbanEntry]) -> None:
        # The backend queues last-wins per address; runs of one kind go in one call.
        run: list[BanEntry | UnbanEntry] = []
        for op in ops:
            if run and type(run[-1]) is not type(op):
                self._queue(backend, run)
                run = []
            run.append(op)
        self._queue(backend, run)
        backend.commit(self.clock())

    @staticmethod
    def _queue(backend: FirewallBackend, run: list[BanEntry | UnbanEntry]) -> None:
        if run and isinstance(run[0], BanEntry):
            backend.ban([op for op in run if isinstance(op, BanEntry)])
        elif run:
            backend.unban([op for op in run if isinstance(op, UnbanEntry)])

    async def _call(self, name: str, what: str, func: Callable[..., object], *args: object
                    ) -> object:
        # asyncio.timeout, not wait_for: Python 3.11's wait_for can swallow a cancellation
        # that arrives as the call completes, and the daemon would then never stop.
        limit = self.timeouts.get(name, self.timeout)
        try:
            async with asyncio.timeout(limit):
                return await asyncio.to_thread(func, *args)
        except TimeoutError:
            self.errors += 1
            log.error("firewall: %s did not finish within %gs; the bans stay recorded and "
                      "are enforced again at the next start", what, limit or 0)
        except BackendError as exc:
            self.errors += 1
            log.error("firewall: %s failed: %s", what, exc)
        except Exception:  # a backend bug must not stop detection; say where it happened
            self.errors += 1
            log.exception("firewall: %s failed unexpectedly", what)
        return None

    def stop(self) -> None:
        """Release the backends; bans stay in the firewall."""
        for name, backend in self.backends.items():
            try:
                backend.stop()
            except BackendError as exc:
                log.error("firewall: stopping %s failed: %s", name, exc)


def _longer(old: Held | None, new: Held) -> Held:
    """Of two backends' views of one element, the one that keeps it longest."""
    if old is None or old.remaining is None:
        return old or new
    if new.remaining is None or new.remaining > old.remaining:
        return new
    return old
