"""Fixtures shared by the tests that run real daemons (tests/e2e, tests/fleet)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.harness import Server


@pytest.fixture
def servers() -> Iterator[list[Server]]:
    """A list to append started daemons to; each is stopped when the test ends."""
    made: list[Server] = []
    try:
        yield made
    finally:
        for server in made:
            server.close()
