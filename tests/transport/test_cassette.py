"""CassetteTransport: record, replay offline, fork reuse, misses, secrets, atomic writes."""

from __future__ import annotations

import hashlib
import json
import os
import pathlib
from typing import Any

import httpx
import pytest

from convo import Conversation
from convo.errors import BadRequestError, CassetteMissError, StreamError
from convo.transport import (
    AsyncCassetteTransport,
    AsyncScriptedTransport,
    CassetteTransport,
    HTTPTransport,
    ScriptedTransport,
    message_events,
)
from convo.transport.cassette import cassette_key
from tests.transport._support import (
    API_KEY,
    PAYLOAD,
    TEXT_MESSAGE,
    TOOL_MESSAGE,
    error_body,
    sse_bytes,
    sse_response,
)

MODEL = "claude-sonnet-4-5"


def reply(text: str) -> dict[str, Any]:
    """A response message saying ``text``."""
    return {**TEXT_MESSAGE, "id": f"msg_{text}", "content": [{"type": "text", "text": text}]}


def test_record_then_replay_offline(tmp_path: pathlib.Path) -> None:
    """Recorded sends, streams and counts replay identically with no inner transport."""
    path = tmp_path / "cassettes" / "demo.json"
    inner = ScriptedTransport([TEXT_MESSAGE, TOOL_MESSAGE], count_tokens=321)
    with CassetteTransport(path, "record", inner=inner) as recorder:
        sent = recorder.send(PAYLOAD)
        streamed = list(recorder.stream(PAYLOAD))
        counted = recorder.count_tokens(PAYLOAD)
    assert path.exists()
    with CassetteTransport(path) as player:  # mode="replay", no inner at all
        assert player.send(PAYLOAD) == sent == TEXT_MESSAGE
        assert list(player.stream(PAYLOAD)) == streamed == message_events(TOOL_MESSAGE)
        assert player.send_streaming(PAYLOAD) == TOOL_MESSAGE
        assert player.count_tokens(PAYLOAD) == counted == 321
    data = json.loads(path.read_text())
    assert data["version"] == 1
    assert [e["kind"] for e in data["interactions"]] == ["messages", "stream", "count_tokens"]
    assert data["interactions"][0]["request"] == PAYLOAD


def test_key_is_the_sha256_of_canonical_json() -> None:
    """The key is sha256 over sorted, compact, non-ASCII-preserving JSON: key order is irrelevant."""
    payload = {"model": MODEL, "max_tokens": 5, "messages": [{"role": "user", "content": "héllo"}]}
    reordered = {"messages": payload["messages"], "max_tokens": 5, "model": MODEL}
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    expected = "sha256:" + hashlib.sha256(text.encode()).hexdigest()
    assert cassette_key(payload) == cassette_key(reordered) == expected
    assert cassette_key({**payload, "max_tokens": 6}) != expected


def test_a_fork_replays_its_recorded_prefix(tmp_path: pathlib.Path) -> None:
    """A fork sends the same payload for the shared prefix, so it replays those recordings."""
    path = tmp_path / "fork.json"
    recorder = CassetteTransport(
        path, "record", inner=ScriptedTransport([reply("one"), reply("two")])
    )
    base = Conversation("Be brief.").user("Hi")
    first = recorder.send(base.to_payload(MODEL, 100))
    grown = base.append_response(first).user("And then?")
    recorder.send(grown.to_payload(MODEL, 100))

    player = CassetteTransport(path)
    fork = grown.fork(1)  # back to just "Hi"
    assert player.send(fork.to_payload(MODEL, 100)) == reply("one")
    diverged = fork.append_response(reply("one")).user("Something else")
    with pytest.raises(CassetteMissError) as info:
        player.send(diverged.to_payload(MODEL, 100))
    assert info.value.key == cassette_key(diverged.to_payload(MODEL, 100))

    inner = ScriptedTransport([reply("three")])
    auto = CassetteTransport(path, "auto", inner=inner)
    assert auto.send(fork.to_payload(MODEL, 100)) == reply("one")  # replayed
    assert auto.send(diverged.to_payload(MODEL, 100)) == reply("three")  # recorded
    assert len(inner.requests) == 1
    again = CassetteTransport(path)
    assert again.send(diverged.to_payload(MODEL, 100)) == reply("three")
    assert again.send(grown.to_payload(MODEL, 100)) == reply("two")


def test_miss_error_says_how_to_record(tmp_path: pathlib.Path) -> None:
    """Replaying an unrecorded request raises CassetteMissError with the key and the fix."""
    path = tmp_path / "missing.json"
    with pytest.raises(CassetteMissError) as info:
        CassetteTransport(path).send(PAYLOAD)
    message = str(info.value)
    assert info.value.key in message
    assert str(path) in message
    assert "does not exist" in message
    assert "mode='auto' or 'record'" in message
    with pytest.raises(CassetteMissError, match="no recorded stream exchange"):
        list(CassetteTransport(path).stream(PAYLOAD))
    with pytest.raises(CassetteMissError, match="count_tokens"):
        CassetteTransport(path).count_tokens(PAYLOAD)


def test_a_send_recording_does_not_answer_a_stream(tmp_path: pathlib.Path) -> None:
    """Kinds are kept apart: a recorded send is not replayed for a stream of the same payload."""
    path = tmp_path / "kinds.json"
    CassetteTransport(path, "record", inner=ScriptedTransport([TEXT_MESSAGE])).send(PAYLOAD)
    with pytest.raises(CassetteMissError):
        list(CassetteTransport(path).stream(PAYLOAD))


def test_repeated_payload_replays_in_order_then_repeats_the_last(tmp_path: pathlib.Path) -> None:
    """The same payload recorded twice replays both answers in order; the last repeats."""
    path = tmp_path / "repeat.json"
    recorder = CassetteTransport(path, "record", inner=ScriptedTransport(["first", "second"]))
    recorder.send(PAYLOAD)
    recorder.send(PAYLOAD)
    player = CassetteTransport(path)
    texts = [player.send(PAYLOAD)["content"][0]["text"] for _ in range(3)]
    assert texts == ["first", "second", "second"]


def test_record_mode_replaces_an_old_cassette(tmp_path: pathlib.Path) -> None:
    """``record`` starts a fresh cassette; ``auto`` appends to it."""
    path = tmp_path / "again.json"
    CassetteTransport(path, "record", inner=ScriptedTransport(["old"])).send(PAYLOAD)
    CassetteTransport(path, "record", inner=ScriptedTransport(["new"])).send(PAYLOAD)
    entries = json.loads(path.read_text())["interactions"]
    assert [e["response"]["content"][0]["text"] for e in entries] == ["new"]


def test_api_errors_are_recorded_and_replayed(tmp_path: pathlib.Path) -> None:
    """A final APIStatusError is part of the exchange: it replays as the same error."""
    path = tmp_path / "errors.json"
    error = BadRequestError(
        "400 invalid_request_error: bad",
        status_code=400,
        error_type="invalid_request_error",
        request_id="req_1",
        body=error_body("invalid_request_error", "bad"),
    )
    recorder = CassetteTransport(path, "record", inner=ScriptedTransport(lambda p: error))
    with pytest.raises(BadRequestError):
        recorder.send(PAYLOAD)
    with pytest.raises(BadRequestError):
        list(recorder.stream(PAYLOAD))
    player = CassetteTransport(path)
    with pytest.raises(BadRequestError) as info:
        player.send(PAYLOAD)
    assert (info.value.status_code, info.value.error_type, info.value.request_id) == (
        400,
        "invalid_request_error",
        "req_1",
    )
    assert info.value.body == error_body("invalid_request_error", "bad")
    with pytest.raises(BadRequestError):
        list(player.stream(PAYLOAD))


def test_broken_streams_are_not_recorded(tmp_path: pathlib.Path) -> None:
    """A stream that broke, or was left early, leaves no recording."""
    path = tmp_path / "broken.json"
    events = message_events(TEXT_MESSAGE)
    recorder = CassetteTransport(path, "record", inner=ScriptedTransport([events[:4], events]))
    with pytest.raises(StreamError):
        list(recorder.stream(PAYLOAD))
    with recorder.stream(PAYLOAD) as stream:
        next(stream)
    assert not path.exists()


def test_http_exchanges_keep_no_secret(tmp_path: pathlib.Path) -> None:
    """Recording real HTTP exchanges writes no key, no request header, no cookie."""

    def api(request: httpx.Request) -> httpx.Response:
        headers = {"request-id": "req_rec", "set-cookie": "session=abc", "x-api-key": API_KEY}
        if request.url.path.endswith("count_tokens"):
            return httpx.Response(200, json={"input_tokens": 9}, headers=headers)
        body = json.loads(request.content)
        if body.get("stream"):
            stream = sse_response([sse_bytes(message_events(TEXT_MESSAGE))])
            stream.headers.update(headers)
            return stream
        # A server that (wrongly) echoes the key must not get it into the file either.
        echoed = {**TEXT_MESSAGE, "content": [{"type": "text", "text": f"your key is {API_KEY}"}]}
        return httpx.Response(200, json=echoed, headers=headers)

    path = tmp_path / "http.json"
    with httpx.Client(transport=httpx.MockTransport(api)) as client:
        inner = HTTPTransport(api_key=API_KEY, client=client)
        with CassetteTransport(path, "record", inner=inner) as recorder:
            assert recorder.send(PAYLOAD).request_id == "req_rec"
            assert recorder.send_streaming(PAYLOAD).request_id == "req_rec"
            recorder.count_tokens(PAYLOAD)
    text = path.read_text()
    assert API_KEY not in text
    assert "[redacted]" in text
    assert "x-api-key" not in text
    assert "session=abc" not in text
    entries = json.loads(text)["interactions"]
    assert entries[0]["request_id"] == "req_rec"
    assert entries[0]["headers"]["request-id"] == "req_rec"
    player = CassetteTransport(path)
    assert player.send(PAYLOAD).request_id == "req_rec"
    with player.stream(PAYLOAD) as stream:
        list(stream)
        assert stream.request_id == "req_rec"


def test_writes_are_atomic(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A failed write leaves the previous cassette intact and no temporary file behind."""
    path = tmp_path / "atomic.json"
    recorder = CassetteTransport(path, "auto", inner=ScriptedTransport(["one", "two"]))
    recorder.send(PAYLOAD)
    before = path.read_text()

    def broken_replace(src: Any, dst: Any) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        recorder.send({**PAYLOAD, "max_tokens": 1})
    assert path.read_text() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["atomic.json"]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"mode": "rewind"}, "mode must be"),
        ({"mode": "record"}, "inner transport"),
        ({"mode": "auto"}, "inner transport"),
    ],
)
def test_bad_configuration(tmp_path: pathlib.Path, kwargs: dict[str, Any], match: str) -> None:
    """Unknown modes and recording without an inner transport are refused."""
    with pytest.raises(ValueError, match=match):
        CassetteTransport(tmp_path / "x.json", **kwargs)


def test_foreign_file_is_refused(tmp_path: pathlib.Path) -> None:
    """A JSON file that is not a convo cassette is not silently used."""
    path = tmp_path / "other.json"
    path.write_text('{"interactions": []}')
    with pytest.raises(ValueError, match="not a version 1 convo cassette"):
        CassetteTransport(path)


def test_closing_closes_the_inner_transport(tmp_path: pathlib.Path) -> None:
    """The cassette owns its inner transport."""
    closed: list[bool] = []

    class Inner(ScriptedTransport):
        def close(self) -> None:
            closed.append(True)

    with CassetteTransport(tmp_path / "c.json", "auto", inner=Inner([])):
        pass
    assert closed == [True]


async def test_async_record_and_replay(tmp_path: pathlib.Path) -> None:
    """The async twin records and replays sends, streams, counts and errors."""
    path = tmp_path / "async.json"
    inner = AsyncScriptedTransport([TEXT_MESSAGE, TOOL_MESSAGE], count_tokens=11)
    async with AsyncCassetteTransport(path, "record", inner=inner) as recorder:
        assert await recorder.send(PAYLOAD) == TEXT_MESSAGE
        assert await recorder.send_streaming(PAYLOAD) == TOOL_MESSAGE
        assert await recorder.count_tokens(PAYLOAD) == 11
    async with AsyncCassetteTransport(path) as player:
        assert await player.send(PAYLOAD) == TEXT_MESSAGE
        assert [e async for e in player.stream(PAYLOAD)] == message_events(TOOL_MESSAGE)
        assert await player.count_tokens(PAYLOAD) == 11
        with pytest.raises(CassetteMissError):
            await player.send({**PAYLOAD, "max_tokens": 2})
    assert "AsyncCassetteTransport" in repr(player)
