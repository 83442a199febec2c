"""The fleet's Redis commands, through redis-py's asyncio client (never a hand-written
protocol). Every command that fails for want of Redis raises :class:`FleetUnavailable`.

Round trips are batched: :meth:`FleetClient.publish` sends a whole batch of entries as one
pipeline, :meth:`FleetClient.read` reads every jail's stream with one ``XREAD``, and
:meth:`FleetClient.count_failures` adds a batch of failures with one pipeline of script
calls.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

import redis.asyncio as aioredis
from redis.asyncio.sentinel import Sentinel
from redis.exceptions import RedisError

from warden.errors import WardenError
from warden.fleet.entry import FailureMark
from warden.fleet.keys import KeyLayout

__all__ = ["Endpoint", "FailureMark", "FleetClient", "FleetUnavailable", "StreamItem"]

#: (stream key, entry ID, fields) as read from a stream
StreamItem = tuple[str, str, dict[bytes | str, bytes | str]]

# Add one failure, drop those out of the window and all but the newest ``keep``, let the
# key expire with the window, and answer how many are left: one atomic step per failure,
# so two hosts adding at once both see the other's failure.
_COUNT_SCRIPT = """
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[3])
redis.call('ZREMRANGEBYRANK', KEYS[1], 0, -1 - tonumber(ARGV[4]))
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return redis.call('ZCARD', KEYS[1])
"""


class FleetUnavailable(WardenError):
    """Redis cannot be reached or refused a command (the text says what happened)."""


@dataclass(frozen=True, slots=True)
class Endpoint:
    """How to reach the fleet's Redis: a ``redis://``, ``rediss://`` or ``unix://`` URL
    (or, with ``sentinels``, the master ``service`` they name), an optional password that
    replaces the URL's, and TLS files for ``rediss://``."""

    url: str
    password: str | None = None
    sentinels: tuple[tuple[str, int], ...] = ()
    service: str | None = None
    cafile: str | None = None
    certfile: str | None = None
    keyfile: str | None = None
    timeout: float = 5.0


def _client(endpoint: Endpoint, block: float) -> aioredis.Redis:
    options: dict[str, Any] = {
        "socket_connect_timeout": endpoint.timeout,
        # a blocking XREAD waits up to ``block`` seconds for an answer
        "socket_timeout": endpoint.timeout + block,
        "health_check_interval": 30,
    }
    if endpoint.password is not None:
        options["password"] = endpoint.password
    if endpoint.url.startswith("rediss://"):
        options.update(ssl_ca_certs=endpoint.cafile, ssl_certfile=endpoint.certfile,
                       ssl_keyfile=endpoint.keyfile)
    if endpoint.sentinels:
        sentinel = Sentinel(list(endpoint.sentinels),  # type: ignore[no-untyped-call]
                            socket_timeout=endpoint.timeout)
        return cast(aioredis.Redis, sentinel.master_for(endpoint.service or "", **options))
    return aioredis.Redis.from_url(endpoint.url, **options)


async def _run(step: Awaitable[Any] | Any) -> Any:
    # redis-py's methods are typed as "X | Awaitable[X]" (one class serves both APIs).
    # The command runs as a task of its own awaited through a shield: redis-py's asyncio
    # client has swallowed a cancellation that arrives during a blocking read (redis-py
    # issues 2028, 2551), and then a daemon asked to stop would wait for ever. Our await is
    # cancelled whatever the command does; the command is told to stop and, bounded by its
    # socket timeout, ends on its own.
    task = asyncio.ensure_future(cast(Awaitable[Any], step))
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        task.cancel()
        task.add_done_callback(_forget)
        raise
    except (RedisError, OSError) as exc:
        raise FleetUnavailable(f"{type(exc).__name__}: {exc}") from None


def _forget(task: asyncio.Future[Any]) -> None:
    # a command abandoned at a stop: its outcome no longer matters (retrieved so that asyncio
    # does not report it as never retrieved)
    if not task.cancelled():
        task.exception()


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class FleetClient:
    """The commands of one host on the fleet's Redis."""

    def __init__(self, endpoint: Endpoint, *, keys: KeyLayout | None = None,
                 block: float = 2.0) -> None:
        """A client for ``endpoint`` (nothing is connected until the first command);
        :meth:`read` waits at most ``block`` seconds for new entries."""
        self.keys = keys or KeyLayout()
        self.block = block
        self._redis = _client(endpoint, block)
        self._count = self._redis.register_script(_COUNT_SCRIPT)

    async def ping(self) -> None:
        """Check that Redis answers (and accepts the credentials)."""
        await _run(self._redis.ping())

    async def publish(self, entries: Sequence[tuple[str, Mapping[str, str]]],
                      maxlen: int) -> list[str]:
        """Append each (jail, fields) entry to its jail's stream, trimmed to about
        ``maxlen`` entries, in one pipeline; the new entry IDs, in order."""
        if not entries:
            return []
        pipe = self._redis.pipeline(transaction=False)
        for jail, fields in entries:
            values: dict[Any, Any] = dict(fields)
            pipe.xadd(self.keys.stream(jail), values, maxlen=maxlen, approximate=True)
        ids = await _run(pipe.execute())
        return [_text(i) for i in ids]

    async def read(self, cursors: Mapping[str, str], count: int) -> list[StreamItem]:
        """Entries after each stream's cursor (at most ``count`` per stream), waiting up to
        ``block`` seconds when there are none."""
        if not cursors:
            return []
        streams: dict[Any, Any] = dict(cursors)
        answer = await _run(self._redis.xread(streams, count=count,
                                              block=int(self.block * 1000)))
        found: list[StreamItem] = []
        for stream, items in answer or ():
            name = _text(stream)
            found.extend((name, _text(entry_id), fields) for entry_id, fields in items)
        return found

    async def last_ids(self, streams: Sequence[str]) -> dict[str, str]:
        """The ID of the newest entry of each stream that exists (for the lag in status)."""
        pipe = self._redis.pipeline(transaction=False)
        for stream in streams:
            pipe.xrevrange(stream, count=1)
        answers = await _run(pipe.execute())
        return {stream: _text(items[0][0]) for stream, items in zip(streams, answers,
                                                                    strict=True) if items}

    async def count_failures(self, marks: Sequence[FailureMark]) -> list[int]:
        """Add each failure to its fleet-wide window and answer each window's count
        afterwards (one pipeline of atomic script calls)."""
        if not marks:
            return []
        pipe = self._redis.pipeline(transaction=False)
        for mark in marks:
            window_ms = max(1, int(mark.findtime * 1000))
            # with a pipeline this only queues the call (the script is loaded first)
            await self._count(keys=[self.keys.failures(mark.jail, mark.addr)],
                              args=[repr(mark.time), mark.member,
                                    repr(mark.time - mark.findtime), mark.keep, window_ms],
                              client=pipe)
        answers = await _run(pipe.execute())
        return [int(n) for n in answers]

    async def seen(self, name: str, now: float) -> dict[str, float]:
        """Say that host ``name`` is alive at ``now``; every host's last sign of life."""
        pipe = self._redis.pipeline(transaction=False)
        pipe.hset(self.keys.peers, name, repr(now))
        pipe.hgetall(self.keys.peers)
        _, peers = await _run(pipe.execute())
        found: dict[str, float] = {}
        for host, when in peers.items():
            with contextlib.suppress(ValueError):
                found[_text(host)] = float(_text(when))
        return found

    async def close(self) -> None:
        """Close the connections, waiting 2 s at most: a stop never waits long for Redis
        (asyncio.wait, not a timeout: a timeout relies on a cancellation redis-py may lose)."""
        task = asyncio.ensure_future(self._redis.aclose())
        done, _ = await asyncio.wait({task}, timeout=2.0)
        if not done:
            task.cancel()
        task.add_done_callback(_forget)
