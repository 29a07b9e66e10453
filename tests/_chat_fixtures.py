"""Fixtures of the chat tests: a fake Messages API on 127.0.0.1 and a
database URL (SQLite file, and PostgreSQL when CONVO_TEST_POSTGRES_URL is set)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, make_url

from tests.fake_api import FakeAPI, fake_api
from tests.store.conftest import PG_SKIP, pg_schema, pg_url

__all__ = ["api", "chat_db", "chat_pg_admin", "slow_api"]


@pytest.fixture
def api() -> Iterator[FakeAPI]:
    """A fake Messages API served on 127.0.0.1."""
    with fake_api() as served:
        yield served


@pytest.fixture
def slow_api() -> Iterator[FakeAPI]:
    """The fake API, answering after 50 ms (so concurrent sends overlap)."""
    with fake_api(delay=0.05) as served:
        yield served


@pytest.fixture(scope="session")
def chat_pg_admin() -> Iterator[Engine | None]:
    """An engine on the PostgreSQL test database, or ``None`` without one."""
    url = pg_url()
    if url is None:
        yield None
        return
    engine = create_engine(make_url(url).set(drivername="postgresql+psycopg"))
    yield engine
    engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def chat_db(request: pytest.FixtureRequest, tmp_path: Path, chat_pg_admin: Engine | None) -> Iterator[str]:
    """An empty database: a SQLite file, or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'chat.db'}"
        return
    if chat_pg_admin is None:
        pytest.skip(PG_SKIP)
    with pg_schema(chat_pg_admin) as url:
        yield url
