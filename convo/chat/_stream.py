"""``ChatStream``/``AsyncChatStream``: what ``chat.stream(...)`` returns.

An iterator of typed events (``convo.chat.ChatEvent``) with two views a web
framework can stream as they are: ``text()`` (the reply text, piece by
piece) and ``sse()`` (Server-Sent Events frames).  ``turn`` is the final
turn once the stream is over.  Leaving early (``close()``/``aclose()``, a
``break`` in a ``with`` block, a client that disconnects) closes the
transport's stream; a step whose reply has not been saved yet is then not
saved, and the conversation is unchanged.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Generator, Iterator
from types import TracebackType
from typing import Self

from convo.chat._events import ChatEvent, Finished, TextDelta
from convo.turns import Turn

__all__ = ["AsyncChatStream", "ChatStream"]


class ChatStream:
    """The events of one ``Chat.stream``/``Chat.run(stream=...)`` call."""

    __slots__ = ("_gen", "turn")

    def __init__(self, gen: Generator[ChatEvent, None, Turn]) -> None:
        self._gen = gen
        self.turn: Turn | None = None
        """The final turn, once ``Finished`` has been yielded."""

    def __iter__(self) -> Self:
        return self

    def __next__(self) -> ChatEvent:
        event = next(self._gen)
        if isinstance(event, Finished):
            self.turn = event.turn
        return event

    def close(self) -> None:
        """Stop early: the transport's stream is closed, nothing more is saved."""
        self._gen.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def text(self) -> Iterator[str]:
        """Only the reply text, as it arrives."""
        for event in self:
            if isinstance(event, TextDelta):
                yield event.text

    def sse(self) -> Iterator[str]:
        """Every event as a Server-Sent Events frame."""
        for event in self:
            yield event.sse()

    def until_done(self) -> Turn:
        """Consume the stream; return the final turn."""
        for _ in self:
            pass
        assert self.turn is not None
        return self.turn


class AsyncChatStream:
    """The events of one ``AsyncChat.stream``/``AsyncChat.run(stream=...)`` call."""

    __slots__ = ("_gen", "turn")

    def __init__(self, gen: AsyncGenerator[ChatEvent, None]) -> None:
        self._gen = gen
        self.turn: Turn | None = None
        """The final turn, once ``Finished`` has been yielded."""

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> ChatEvent:
        event = await self._gen.__anext__()
        if isinstance(event, Finished):
            self.turn = event.turn
        return event

    async def aclose(self) -> None:
        """Stop early: the transport's stream is closed, nothing more is saved."""
        await self._gen.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def text(self) -> AsyncIterator[str]:
        """Only the reply text, as it arrives."""
        async for event in self:
            if isinstance(event, TextDelta):
                yield event.text

    async def sse(self) -> AsyncIterator[str]:
        """Every event as a Server-Sent Events frame."""
        async for event in self:
            yield event.sse()

    async def until_done(self) -> Turn:
        """Consume the stream; return the final turn."""
        async for _ in self:
            pass
        assert self.turn is not None
        return self.turn
