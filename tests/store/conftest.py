from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from hub.database_url import DatabaseLocation
from hub.store import Store, open_store


@pytest.fixture
async def store(database: DatabaseLocation) -> AsyncIterator[Store]:
    """The store on each backend in turn (see `database` in tests/conftest.py)."""
    opened = await open_store(database)
    yield opened
    await opened.close()
