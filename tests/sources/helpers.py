"""Shared helpers of the source tests: collect lines from a running source with a deadline."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from warden.sources.base import LogBatch, resolve_backend

__all__ = ["BACKENDS", "NATIVE", "collect", "until"]

# the kernel's change notification here ("auto" resolves to it), and every backend to test
NATIVE = resolve_backend("auto")
BACKENDS = [NATIVE, "polling"] if NATIVE != "polling" else ["polling"]


async def collect(it: AsyncIterator[LogBatch], want: int, *, timeout: float = 5.0,
                  into: list[LogBatch] | None = None) -> list[str]:
    """Lines of the next batches until ``want`` lines arrived (fails after ``timeout``)."""
    lines: list[str] = []
    async with asyncio.timeout(timeout):
        while len(lines) < want:
            batch = await anext(it)
            if into is not None:
                into.append(batch)
            lines.extend(batch.lines)
    return lines


async def until(condition: object, *, timeout: float = 5.0) -> None:
    """Yield to the loop until ``condition()`` holds (polls the loop, never sleeps blindly)."""
    assert callable(condition)
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.001)
