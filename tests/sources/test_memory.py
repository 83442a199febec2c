"""The in-memory twin: same protocol, driven by code, usable under the supervisor."""

from __future__ import annotations

import asyncio

import pytest

from warden.errors import SourceError
from warden.sources.base import LogBatch, LogSource, SourceState
from warden.sources.memory import MemorySource
from warden.sources.supervise import Backoff, Supervised


def test_pushed_batches_come_out_in_order_and_end():
    async def main() -> list[LogBatch]:
        src = MemorySource("replay")
        assert isinstance(src, LogSource)
        src.push(["a", "b"])
        src.push(["c"], [1.5], source="/var/log/auth.log")
        src.finish()
        out = [b async for b in src.batches()]
        assert src.delivered == 3
        return out

    out = asyncio.run(main())
    assert [(b.source, b.lines, b.times) for b in out] == [
        ("replay", ["a", "b"], None), ("/var/log/auth.log", ["c"], [1.5])]


def test_times_must_match_lines():
    async def main() -> None:
        with pytest.raises(ValueError, match="one time per line"):
            MemorySource().push(["a"], [1.0, 2.0])

    asyncio.run(main())


def test_failure_is_restarted_by_the_supervisor():
    sources: list[MemorySource] = []
    got: list[str] = []

    def factory() -> MemorySource:
        src = MemorySource()
        if not sources:
            src.push(["first"])
            src.fail(SourceError("gone"))
        else:
            src.push(["second"])
            src.finish()
        sources.append(src)
        return src

    async def consume(batch: LogBatch) -> None:
        got.extend(batch.lines)

    async def main() -> None:
        sup = Supervised("mem", factory, consume, backoff=Backoff(initial=0.001))
        await sup.run()
        assert sup.status()[0].restarts == 1
        assert sup.status()[0].error == "gone"

    asyncio.run(main())
    assert got == ["first", "second"]
    assert [s.status()[0].state for s in sources] == [SourceState.STOPPED] * 2
