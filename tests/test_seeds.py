"""The seed examples (shared/seeds) built with the public API give exactly
the seed request bodies, and the seed responses parse and round-trip."""

from __future__ import annotations

import base64

import pytest

from convo import Conversation, ImageBlock, TextBlock
from convo.testing import png_bytes  # noqa: F401  (re-export smoke)

MODEL = "claude-opus-4-6"

BASIC = {
    "model": MODEL,
    "max_tokens": 1024,
    "messages": [{"role": "user", "content": "Hello, Claude"}],
}
MULTI = {
    "model": MODEL,
    "max_tokens": 1024,
    "messages": [
        {"role": "user", "content": "Hello, Claude"},
        {"role": "assistant", "content": "Hello!"},
        {"role": "user", "content": "Can you describe LLMs to me?"},
    ],
}
PREFILL = {
    "model": MODEL,
    "max_tokens": 1,
    "messages": [
        {
            "role": "user",
            "content": "What is latin for Ant? (A) Apoidea, (B) Rhopalocera, (C) Formicidae",
        },
        {"role": "assistant", "content": "The answer is ("},
    ],
}
# A real (tiny) JPEG stands in for the seed's downloaded ant photo.
JPEG = bytes.fromhex(
    "ffd8ffe000104a46494600010100000100010000ffdb004300080606070605080707070909080a0c140d0c0b0b0c1912"
    "130f141d1a1f1e1d1a1c1c20242e2720222c231c1c2837292c30313434341f27393d38323c2e333432ffc0000b080001"
    "000101011100ffc4001f0000010501010101010100000000000000000102030405060708090a0bffc400b5100002010303"
    "020403050504040000017d01020300041105122131410613516107227114328191a1082342b1c11552d1f02433627282"
    "090a161718191a25262728292a3435363738393a434445464748494a535455565758595a636465666768696a73747576"
    "7778797a838485868788898a92939495969798999aa2a3a4a5a6a7a8a9aab2b3b4b5b6b7b8b9bac2c3c4c5c6c7c8c9ca"
    "d2d3d4d5d6d7d8d9dae1e2e3e4e5e6e7e8e9eaf1f2f3f4f5f6f7f8f9faffda0008010100003f00fbd3ffd9"
)
IMAGE_BASE64 = base64.b64encode(JPEG).decode()
URL = "https://upload.wikimedia.org/wikipedia/commons/a/a7/Camponotus_flavomarginatus_ant.jpg"
VISION_BASE64 = {
    "model": MODEL,
    "max_tokens": 1024,
    "messages": [
        {
            "role": "user",
            "content": [
                {
                    "type": "image",
                    "source": {"type": "base64", "media_type": "image/jpeg", "data": IMAGE_BASE64},
                },
                {"type": "text", "text": "What is in the above image?"},
            ],
        }
    ],
}
VISION_URL = {
    "model": MODEL,
    "max_tokens": 1024,
    "messages": [
        {
            "role": "user",
            "content": [
                {"type": "image", "source": {"type": "url", "url": URL}},
                {"type": "text", "text": "What is in the above image?"},
            ],
        }
    ],
}

RESPONSES = [
    {
        "id": "msg_01XFDUDYJgAACzvnptvVoYEL",
        "type": "message",
        "role": "assistant",
        "content": [{"type": "text", "text": "Hello!"}],
        "model": MODEL,
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 12, "output_tokens": 6},
    },
    {
        "id": "msg_018gCsTGsXkYJVqYPxTgDHBU",
        "type": "message",
        "role": "assistant",
        "content": [{"type": "text", "text": "Sure, I'd be happy to provide..."}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 30, "output_tokens": 309},
    },
    {
        "id": "msg_01Q8Faay6S7QPTvEUUQARt7h",
        "type": "message",
        "role": "assistant",
        "content": [{"type": "text", "text": "C"}],
        "model": MODEL,
        "stop_reason": "max_tokens",
        "stop_sequence": None,
        "usage": {"input_tokens": 42, "output_tokens": 1},
    },
]


def test_basic_request_body_is_exact():
    """c.user(...) then to_payload gives the seed's basic request."""
    assert Conversation().user("Hello, Claude").to_payload(model=MODEL, max_tokens=1024) == BASIC


def test_multi_turn_with_synthetic_assistant_is_exact():
    """A synthetic assistant turn is sent like any other."""
    c = Conversation().user("Hello, Claude").assistant("Hello!").user("Can you describe LLMs to me?")
    assert c[1].origin == "synthetic"
    assert c.to_payload(model=MODEL, max_tokens=1024) == MULTI


def test_prefill_request_body_is_exact():
    """prefill() appends the trailing assistant turn of the seed."""
    c = Conversation().user(PREFILL["messages"][0]["content"]).prefill("The answer is (")
    assert c.to_payload(model=MODEL, max_tokens=1) == PREFILL


def test_prefill_response_joins_into_one_assistant_turn():
    """The continuation joins the prefill: one turn, the full text."""
    c = Conversation().user(PREFILL["messages"][0]["content"]).prefill("The answer is (")
    done = c.append_response(RESPONSES[2])
    assert len(done) == 2
    assert done[1].text == "The answer is (C"
    assert done[1].origin == "model"
    assert done[1].meta["stop_reason"] == "max_tokens"
    assert done[1].meta["prefix"] == "The answer is ("
    assert done.to_payload(model=MODEL, max_tokens=1)["messages"][1] == {
        "role": "assistant",
        "content": "The answer is (C",
    }


def test_vision_base64_request_body_is_exact():
    """ImageBlock.from_bytes sniffs image/jpeg and encodes the bytes."""
    c = Conversation().user([ImageBlock.from_bytes(JPEG), TextBlock("What is in the above image?")])
    assert c.to_payload(model=MODEL, max_tokens=1024) == VISION_BASE64


def test_vision_url_request_body_is_exact():
    """ImageBlock.from_url gives the url source."""
    c = Conversation().user([ImageBlock.from_url(URL), TextBlock("What is in the above image?")])
    assert c.to_payload(model=MODEL, max_tokens=1024) == VISION_URL


@pytest.mark.parametrize("payload", [BASIC, MULTI, PREFILL, VISION_BASE64, VISION_URL])
def test_seed_payloads_round_trip(payload):
    """from_payload(p).to_payload(**same) == p for every seed body."""
    rest = {k: v for k, v in payload.items() if k != "messages"}
    assert Conversation.from_payload(payload).to_payload(**rest) == payload


@pytest.mark.parametrize("response", RESPONSES)
def test_seed_responses_parse_and_round_trip(response):
    """A response's content comes back as sent and its fields land in meta."""
    c = Conversation().user("Hello, Claude").append_response(response)
    turn = c[1]
    assert turn.origin == "model"
    assert list(turn.content) == response["content"]
    for key in ("id", "stop_reason", "usage"):
        assert turn.meta[key] == response[key]
    assert "content" not in turn.meta
    again = Conversation.from_payload(c.to_payload(model=MODEL, max_tokens=10))
    assert again == c
