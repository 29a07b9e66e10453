"""Store fixtures: each test gets its own database on every backend it asks for.

Backends: ``sqlite-memory``, ``sqlite-file`` and ``postgres``.  PostgreSQL
tests need ``CONVO_TEST_POSTGRES_URL`` (e.g.
``postgresql+psycopg://postgres@127.0.0.1:5432/test``) and are skipped with
that reason when it is unset.  Each PostgreSQL test runs in a schema of its
own (``convo_t_<run>_<n>``, via ``search_path``), dropped afterwards, so runs
never collide.
"""

from __future__ import annotations

import itertools
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, make_url

from convo import Conversation, TextBlock, ToolResultBlock, ToolUseBlock
from convo.store import AsyncStore, Store

PG_ENV = "CONVO_TEST_POSTGRES_URL"
PG_SKIP = f"PostgreSQL tests need {PG_ENV} (e.g. postgresql+psycopg://postgres@127.0.0.1:5432/test)"

BACKENDS = [
    "sqlite-memory",
    "sqlite-file",
    pytest.param("postgres", marks=pytest.mark.postgres),
]
FILE_BACKENDS = ["sqlite-file", pytest.param("postgres", marks=pytest.mark.postgres)]

_RUN = uuid.uuid4().hex[:8]
_COUNTER = itertools.count()


def pg_url() -> str | None:
    """The PostgreSQL URL of this run, or ``None``."""
    return os.environ.get(PG_ENV) or None


def with_search_path(url: str, schema: str) -> str:
    """``url`` whose connections use ``schema`` first."""
    return (
        make_url(url)
        .update_query_dict({"options": f"-csearch_path={schema}"})
        .render_as_string(hide_password=False)
    )


@pytest.fixture(scope="session")
def pg_admin() -> Iterator[Engine | None]:
    """An engine on the PostgreSQL test database, or ``None`` without one."""
    url = pg_url()
    if url is None:
        yield None
        return
    engine = create_engine(make_url(url).set(drivername="postgresql+psycopg"))
    yield engine
    engine.dispose()


@contextmanager
def pg_schema(admin: Engine) -> Iterator[str]:
    """A fresh schema; yields a store URL that uses it; drops it after."""
    url = pg_url()
    assert url is not None
    name = f"convo_t_{_RUN}_{next(_COUNTER)}"
    with admin.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{name}"')
    try:
        yield with_search_path(url, name)
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{name}" CASCADE')


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """Which database the test runs on."""
    name: str = request.param
    if name == "postgres" and pg_url() is None:
        pytest.skip(PG_SKIP)
    return name


@pytest.fixture
def db_url(backend: str, tmp_path: Path, pg_admin: Engine | None) -> Iterator[str]:
    """A URL of an empty database of ``backend``, removed after the test."""
    if backend == "sqlite-memory":
        yield "sqlite://"
    elif backend == "sqlite-file":
        yield f"sqlite:///{tmp_path / 'convo.db'}"
    else:
        assert pg_admin is not None
        with pg_schema(pg_admin) as url:
            yield url


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    """A ``Store`` on a fresh database."""
    with Store(db_url) as opened:
        yield opened


@pytest.fixture
async def async_store(db_url: str) -> AsyncIterator[AsyncStore]:
    """An ``AsyncStore`` on a fresh database."""
    async with AsyncStore(db_url) as opened:
        yield opened


def chat(turns: int, *, system: object = "You are terse.", tag: str = "") -> Conversation:
    """A conversation of ``turns`` alternating turns (user first)."""
    c = Conversation(system)  # type: ignore[arg-type]
    for i in range(turns):
        if i % 2 == 0:
            c = c.user(f"question {tag}{i}")
        else:
            c = c.append(
                "assistant",
                [TextBlock(f"answer {tag}{i}")],
                origin="model",
                meta={"id": f"msg_{tag}{i}", "usage": {"input_tokens": i, "output_tokens": 1}},
            )
    return c


def tool_chat() -> Conversation:
    """A conversation with a tool exchange, blocks systems and every origin."""
    c = Conversation([TextBlock("You may call tools.")])
    c = c.user("what is the weather?")
    c = c.append(
        "assistant",
        [TextBlock("Let me look."), ToolUseBlock("toolu_1", "weather", {"city": "Paris"})],
        origin="model",
        meta={"id": "msg_1", "stop_reason": "tool_use"},
    )
    c = c.append("user", [ToolResultBlock("toolu_1", "sunny")], origin="tool")
    return c.assistant("It is sunny.")
