"""The fleet tests' real redis-server: ``server`` starts one in the test's temporary
directory and stops it afterwards (a module may define its own ``server`` instead)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fleet.redisserver import RedisServer


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RedisServer]:
    redis = RedisServer(tmp_path / "redis").start()
    try:
        yield redis
    finally:
        redis.stop()
