"""Fixtures for the transport tests (helpers live in ``_support.py``)."""

from __future__ import annotations

import copy
import threading
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from http.server import ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from convo.transport import AsyncHTTPTransport, HTTPTransport
from tests.transport._support import (
    API_KEY,
    MESSAGES,
    AsyncFakeSleep,
    FakeSleep,
    MockAPI,
    Script,
    make_handler,
)


@pytest.fixture
def fake_sleep() -> FakeSleep:
    """A sleep that records."""
    return FakeSleep()


@pytest.fixture
def async_fake_sleep() -> AsyncFakeSleep:
    """An async sleep that records."""
    return AsyncFakeSleep()


@pytest.fixture
def make_http(fake_sleep: FakeSleep) -> Iterator[Callable[..., tuple[HTTPTransport, MockAPI]]]:
    """``make_http(replies, **kwargs)`` -> an HTTPTransport over a MockAPI (closed after)."""
    made: list[tuple[HTTPTransport, httpx.Client]] = []

    def make(replies: Iterable[Any], **kwargs: Any) -> tuple[HTTPTransport, MockAPI]:
        api = MockAPI(replies)
        client = httpx.Client(transport=httpx.MockTransport(api))
        kwargs.setdefault("api_key", API_KEY)
        kwargs.setdefault("sleep", fake_sleep)
        kwargs.setdefault("random", lambda: 0.0)
        transport = HTTPTransport(client=client, **kwargs)
        made.append((transport, client))
        return transport, api

    yield make
    for transport, client in made:
        transport.close()
        client.close()


@pytest.fixture
async def make_async_http(
    async_fake_sleep: AsyncFakeSleep,
) -> AsyncIterator[Callable[..., tuple[AsyncHTTPTransport, MockAPI]]]:
    """The async twin of ``make_http``."""
    made: list[tuple[AsyncHTTPTransport, httpx.AsyncClient]] = []

    def make(replies: Iterable[Any], **kwargs: Any) -> tuple[AsyncHTTPTransport, MockAPI]:
        api = MockAPI(replies)
        client = httpx.AsyncClient(transport=httpx.MockTransport(api.handle_async))
        kwargs.setdefault("api_key", API_KEY)
        kwargs.setdefault("sleep", async_fake_sleep)
        kwargs.setdefault("random", lambda: 0.0)
        transport = AsyncHTTPTransport(client=client, **kwargs)
        made.append((transport, client))
        return transport, api

    yield make
    for transport, client in made:
        await transport.aclose()
        await client.aclose()


@pytest.fixture(params=sorted(MESSAGES))
def message(request: pytest.FixtureRequest) -> dict[str, Any]:
    """Each sample message (text; text + tool use; thinking + citations)."""
    return copy.deepcopy(MESSAGES[request.param])


@pytest.fixture
def server() -> Iterator[tuple[Script, str]]:
    """A scripted Messages API on 127.0.0.1 (port chosen by the OS)."""
    script = Script()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(script))
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.01})
    thread.start()
    try:
        yield script, f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()
