"""store.usage: a thread's ledger, on every backend, sync and async."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from convo import Conversation
from convo.errors import ThreadNotFoundError
from convo.models import Prices
from convo.store import AsyncStore, Store
from convo.testing import conversations, memory_store

PRICES = Prices(input=1.0, output=10.0, cache_write_5m=2.0, cache_write_1h=3.0, cache_read=0.5)


def _reply(rid: str, **usage: Any) -> dict[str, Any]:
    return {
        "id": rid, "type": "message", "role": "assistant", "model": "claude-opus-4-5",
        "content": [{"type": "text", "text": f"answer {rid}"}],
        "stop_reason": "end_turn", "stop_sequence": None,
        "usage": {"input_tokens": 10, "output_tokens": 5, **usage},
    }


def _main() -> Conversation:
    c = Conversation("be brief").user("a").append_response(
        _reply("m1", cache_creation_input_tokens=3000,
               cache_creation={"ephemeral_5m_input_tokens": 1000, "ephemeral_1h_input_tokens": 2000})
    )
    c = c.user("b").append_response(_reply("m2", cache_read_input_tokens=3000))
    return c.user("c").append_response(_reply("m3", cache_read_input_tokens=2500))


def _fork(main: Conversation) -> Conversation:
    """A fork of ``main`` after its second response, with one request of its own."""
    return main[:4].user("other").append_response(_reply("f1", cache_read_input_tokens=3000))


def _ids(ledger: Any) -> list[str | None]:
    return [row.response_id for row in ledger.requests]


def test_usage_is_the_loaded_conversations_ledger(store: Store) -> None:
    """store.usage(t) == store.load(t).usage(); since= leaves out the shared prefix."""
    main = _main()
    store.save("main", main)
    store.save("fork", _fork(main))
    ledger = store.usage("main")
    assert ledger == store.load("main").usage()
    assert _ids(ledger) == ["m1", "m2", "m3"]
    assert ledger.total.cache_write_1h_tokens == 2000 and ledger.total.cache_read_tokens == 5500
    assert _ids(store.usage("fork")) == ["m1", "m2", "f1"]  # a fork shares its prefix's cost
    own = store.usage("fork", since="main")
    assert own == store.load("fork").usage(since=store.load("main"))
    assert _ids(own) == ["f1"] and own.total.requests == 1
    # Every request counted once: main's ledger plus the fork's own.
    assert (ledger.total + own.total).requests == len({*_ids(ledger), *_ids(store.usage("fork"))})


def test_usage_of_a_store_fork_and_prices(store: Store) -> None:
    """A fork made by the store shares every turn: since= leaves nothing; prices override."""
    store.save("main", _main())
    store.fork("main", at=4, new_id="early")
    assert _ids(store.usage("early")) == ["m1", "m2"]
    assert store.usage("early", since="main").requests == ()
    priced = store.usage("main", prices=PRICES)
    assert priced == store.load("main").usage(prices=PRICES)
    first = priced.requests[0].usage
    assert first.cost == pytest.approx((10 * 1.0 + 5 * 10.0 + 1000 * 2.0 + 2000 * 3.0) / 1e6)
    assert priced.total.cost == pytest.approx(sum(r.usage.cost or 0 for r in priced.requests))


def test_usage_of_missing_threads(store: Store) -> None:
    """An unknown thread, or an unknown since thread, is ThreadNotFoundError."""
    store.save("main", _main())
    with pytest.raises(ThreadNotFoundError):
        store.usage("nope")
    with pytest.raises(ThreadNotFoundError):
        store.usage("main", since="nope")
    store.save("empty", Conversation())
    assert store.usage("empty").requests == () and store.usage("empty").total.requests == 0


async def test_async_usage_matches_the_sync_ledger(async_store: AsyncStore) -> None:
    """AsyncStore.usage: the same ledgers, awaited."""
    main = _main()
    await async_store.save("main", main)
    await async_store.save("fork", _fork(main))
    assert await async_store.usage("main") == main.usage()
    own = await async_store.usage("fork", since="main", prices=PRICES)
    assert own == _fork(main).usage(since=main, prices=PRICES)
    assert _ids(own) == ["f1"]
    with pytest.raises(ThreadNotFoundError):
        await async_store.usage("main", since="nope")


@settings(max_examples=25, deadline=None)
@given(conversations(min_turns=1, max_turns=8, images=False), st.data())
def test_stored_ledgers_are_the_conversations_ledgers(c: Conversation, data: st.DataObject) -> None:
    """For generated histories (model turns with usage) and any fork point:
    store.usage of the thread, of a store fork and of either since the other
    equals the Conversation ledger of the same chains."""
    at = data.draw(st.integers(0, len(c)), label="fork at")
    with memory_store() as store:
        store.save("main", c)
        store.fork("main", at=at, new_id="f")
        assert store.usage("main") == c.usage()
        assert store.usage("f") == c[:at].usage()
        assert store.usage("main", since="f") == c.usage(since=c[:at])
        assert store.usage("f", since="main").requests == ()
        assert store.usage("main", prices=PRICES) == c.usage(prices=PRICES)
