"""The conflict policy: N concurrent sends on one thread under raise, fork and
rebase, sync and async, on SQLite and PostgreSQL, through a real HTTP server.

The invariant counted in every test: each reply the server produced (each
one paid for) is on the thread or on a branch the chat reported; none is
unreachable."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from convo.chat import AsyncChat, Branched, Chat
from convo.errors import ConflictError
from convo.store import AsyncStore, Store
from convo.transport import AsyncHTTPTransport, HTTPTransport
from tests.fake_api import API_KEY, FakeAPI

MODEL = "claude-opus-4-6"
N = 6


def reachable(store: Store) -> dict[str, set[str]]:
    """Response id -> the threads whose history holds that reply."""
    found: dict[str, set[str]] = {}
    for info in store.threads():
        for turn in store.load(info.id):
            if turn.origin == "model" and turn.info.id is not None:
                found.setdefault(turn.info.id, set()).add(info.id)
    return found


async def areachable(store: AsyncStore) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for info in await store.threads():
        for turn in await store.load(info.id):
            if turn.origin == "model" and turn.info.id is not None:
                found.setdefault(turn.info.id, set()).add(info.id)
    return found


def concurrent_sends(store: Store, api: FakeAPI, policy: Any) -> tuple[list[Chat], list[Any]]:
    """N chats, all loaded at the same head, send at once; their outcomes."""
    with HTTPTransport(api_key=API_KEY, base_url=api.url, max_retries=0) as t:
        Chat(store, t, "t1", model=MODEL).send("hello")
    transports = [HTTPTransport(api_key=API_KEY, base_url=api.url, max_retries=0) for _ in range(N)]
    chats = [Chat(store, tr, "t1", model=MODEL, conflict=policy) for tr in transports]
    outcomes: list[Any] = [None] * N
    barrier = threading.Barrier(N)

    def send(i: int) -> None:
        barrier.wait()
        try:
            outcomes[i] = chats[i].send(f"message {i}")
        except ConflictError as exc:
            outcomes[i] = exc

    workers = [threading.Thread(target=send, args=(i,)) for i in range(N)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    for tr in transports:
        tr.close()
    return chats, outcomes


def test_raise_policy_keeps_every_reply_reachable_via_pending(slow_api: FakeAPI, chat_db: str) -> None:
    """raise: one winner, N-1 ConflictErrors; each loser's reply saved with save_pending."""
    with Store(chat_db) as store:
        chats, outcomes = concurrent_sends(store, slow_api, "raise")
        losers = [c for c, o in zip(chats, outcomes, strict=True) if isinstance(o, ConflictError)]
        assert len(losers) == N - 1
        assert all(c.pending is not None for c in losers)
        for i, chat in enumerate(losers):
            chat.save_pending(f"t1-lost-{i}")
        found = reachable(store)
        assert set(slow_api.served) <= set(found)
        assert len(slow_api.served) == N + 1


def test_fork_policy_reports_a_branch_for_every_lost_reply(slow_api: FakeAPI, chat_db: str) -> None:
    """fork: no error; each lost reply is on a branch named in chat.branches."""
    with Store(chat_db) as store:
        chats, outcomes = concurrent_sends(store, slow_api, "fork")
        assert not any(isinstance(o, Exception) for o in outcomes)
        branches = [b for c in chats for b in c.branches]
        assert len(branches) == N - 1
        found = reachable(store)
        assert set(slow_api.served) <= set(found)  # none unreachable
        assert len(slow_api.served) == N + 1
        main = store.load("t1")
        assert len(main) == 4
        for chat, turn in zip(chats, outcomes, strict=True):
            if chat.branches:
                branch = chat.branches[0]
                assert branch.turn == turn
                assert branch.reason == "fork"
                assert store.load(branch.thread).head == turn
                assert store.info(branch.thread).forked_from == "t1"
                assert chat.conversation == main  # reloaded: the winner's thread
            else:
                assert main.head == turn


def test_rebase_policy_puts_every_message_on_the_thread(slow_api: FakeAPI, chat_db: str) -> None:
    """rebase: every user message ends up on the thread; each earlier paid reply on a branch."""
    with Store(chat_db) as store:
        chats, outcomes = concurrent_sends(store, slow_api, "rebase")
        assert not any(isinstance(o, Exception) for o in outcomes)
        main = store.load("t1")
        prompts = sorted(t.text for t in main if t.role == "user")
        assert prompts == sorted(["hello", *(f"message {i}" for i in range(N))])
        assert len(main) == 2 + 2 * N
        branches = [b for c in chats for b in c.branches]
        assert len(slow_api.served) == 1 + N + len(branches)  # each rebase paid once more
        assert all(b.reason == "rebase" for b in branches)
        found = reachable(store)
        assert set(slow_api.served) <= set(found)
        for turn in outcomes:
            assert turn in main.turns


def test_fork_policy_in_sequence(api: FakeAPI) -> None:
    """A stale chat sends: its reply goes to a branch, its conversation is reloaded."""
    with Store(":memory:") as store, HTTPTransport(api_key=API_KEY, base_url=api.url) as t:
        a = Chat(store, t, "t1", model=MODEL, conflict="fork")
        a.send("one")
        b = Chat(store, t, "t1", model=MODEL, conflict="fork")
        a.send("two")
        turn = b.send("three")
        (branch,) = b.branches
        assert branch.thread.startswith("t1~")
        assert store.load(branch.thread).head == turn
        assert [t.text for t in store.load(branch.thread) if t.role == "user"] == ["one", "three"]
        assert b.conversation == store.load("t1") == a.conversation
        assert b.pending is None


async def test_async_policies_under_concurrency(slow_api: FakeAPI, chat_db: str) -> None:
    """asyncio.gather of N sends under raise, fork and rebase: nothing unreachable."""
    async with AsyncStore(chat_db) as store:
        for n, policy in enumerate(("raise", "fork", "rebase")):
            thread = f"a{n}"
            async with AsyncHTTPTransport(api_key=API_KEY, base_url=slow_api.url) as t:
                await (await AsyncChat.open(store, t, thread, model=MODEL)).send("hello")
                chats = [await AsyncChat.open(store, t, thread, model=MODEL, conflict=policy) for _ in range(N)]
                turns = await asyncio.gather(
                    *(c.send(f"message {i}") for i, c in enumerate(chats)), return_exceptions=True
                )
                if policy == "raise":
                    lost = [c for c, r in zip(chats, turns, strict=True) if isinstance(r, ConflictError)]
                    assert len(lost) == N - 1
                    for i, chat in enumerate(lost):
                        await chat.save_pending(f"{thread}-lost-{i}")
                    continue
            assert not any(isinstance(r, BaseException) for r in turns)
            branches = [b for c in chats for b in c.branches]
            main = await store.load(thread)
            if policy == "fork":
                assert len(branches) == N - 1
                assert len(main) == 4
            else:
                assert len(main) == 2 + 2 * N
                assert all(t in main.turns for t in turns)
        found = await areachable(store)
        assert set(slow_api.served) <= set(found)


def test_unknown_policy_is_refused(api: FakeAPI) -> None:
    """A policy name that does not exist: ValueError at construction."""
    with (
        Store(":memory:") as store,
        HTTPTransport(api_key=API_KEY, base_url=api.url) as t,
        pytest.raises(ValueError, match="conflict must be"),
    ):
        Chat(store, t, "t1", model=MODEL, conflict="merge")  # type: ignore[arg-type]


def test_a_stale_stream_reports_its_branch(api: FakeAPI) -> None:
    """fork policy while streaming: a Branched event, then Finished with the branch's reply."""
    with Store(":memory:") as store, HTTPTransport(api_key=API_KEY, base_url=api.url) as t:
        a = Chat(store, t, "t1", model=MODEL, conflict="fork")
        a.send("one")
        b = Chat(store, t, "t1", model=MODEL, conflict="fork")
        a.send("two")
        events = list(b.stream("three"))
        kinds = [type(e).__name__ for e in events]
        assert "TurnEnd" not in kinds  # not saved on t1
        branched = next(e for e in events if isinstance(e, Branched))
        assert kinds[-2:] == ["Branched", "Finished"]
        assert store.load(branched.thread).head == branched.turn == events[-1].turn  # type: ignore[union-attr]
        assert b.branches[0].thread == branched.thread


def test_rebase_gives_up_after_max_rebases(api: FakeAPI) -> None:
    """max_rebases=0: rebase keeps the reply on a branch like fork, and does not resend."""
    with Store(":memory:") as store, HTTPTransport(api_key=API_KEY, base_url=api.url) as t:
        a = Chat(store, t, "t1", model=MODEL)
        a.send("one")
        b = Chat(store, t, "t1", model=MODEL, conflict="rebase", max_rebases=0)
        a.send("two")
        sent = len(api.requests)
        turn = b.send("three")
        assert len(api.requests) == sent + 1
        assert b.branches[0].turn == turn
        assert turn not in store.load("t1").turns
