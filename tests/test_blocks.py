"""Blocks and the codec: strict reading, verbatim unknowns, image helpers."""

from __future__ import annotations

import base64
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from convo import (
    CodecError,
    Conversation,
    FrozenDict,
    ImageBlock,
    RuleError,
    TextBlock,
    ToolResultBlock,
    ToolUseBlock,
    UnknownBlock,
)
from convo.codec import block_from_json, block_to_json, content_from_json, split_response
from convo.images import image_size, sniff_media_type
from convo.testing import blocks, png_bytes

GIF = b"GIF89a\x02\x00\x03\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x02\x00\x03\x00\x00\x02\x02D\x01\x00;"


def _webp_lossless(width: int, height: int) -> bytes:
    bits = (width - 1) | ((height - 1) << 14)
    return b"RIFF\x1a\x00\x00\x00WEBPVP8L\x0d\x00\x00\x00\x2f" + bits.to_bytes(4, "little") + b"\x00" * 8


def _webp_extended(width: int, height: int) -> bytes:
    return (
        b"RIFF\x1a\x00\x00\x00WEBPVP8X\x0a\x00\x00\x00\x00\x00\x00\x00"
        + (width - 1).to_bytes(3, "little")
        + (height - 1).to_bytes(3, "little")
    )


def _webp_lossy(width: int, height: int) -> bytes:
    return (
        b"RIFF\x1a\x00\x00\x00WEBPVP8 \x0a\x00\x00\x00\x00\x00\x00\x9d\x01\x2a"
        + width.to_bytes(2, "little")
        + height.to_bytes(2, "little")
    )


def _jpeg(width: int, height: int) -> bytes:
    app0 = b"\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    sof = b"\xff\xc0\x00\x0b\x08" + height.to_bytes(2, "big") + width.to_bytes(2, "big") + b"\x01\x01\x11\x00"
    return b"\xff\xd8" + app0 + sof + b"\xff\xd9"


@given(blocks())
def test_block_json_round_trip(block):
    """Every block reads back equal from its own JSON (through json text)."""
    data = json.loads(json.dumps(block_to_json(block)))
    assert block_from_json(data) == block


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text() | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=10,
)


@given(
    st.sampled_from(["text", "image", "tool_use", "tool_result", "thinking", "server_tool_use",
                     "web_search_tool_result", "compaction", "brand_new"]),
    st.dictionaries(st.text(max_size=8).filter(lambda k: k != "type"), json_values, max_size=4),
)
def test_any_shape_round_trips_byte_for_byte(kind, body):
    """Whatever a block holds, it is kept or refused: same JSON text back
    (key order and explicit nulls too), or a CodecError."""
    data = {"type": kind, **body}
    try:
        block = block_from_json(data)
    except CodecError:
        return  # a known type with a malformed field is an error, not data loss
    assert json.dumps(block_to_json(block)) == json.dumps(data)
    assert isinstance(block, UnknownBlock) == (kind == "brand_new")


def test_known_block_with_extra_field_stays_typed():
    """A field this release does not model is kept in ``extra``; the block
    stays typed (the old closed-world codec made it an UnknownBlock)."""
    data = {"type": "text", "text": "hi", "citations_v9": [1]}
    block = block_from_json(data)
    assert isinstance(block, TextBlock)
    assert block.text == "hi"
    assert block.extra == {"citations_v9": [1]}
    assert json.dumps(block_to_json(block)) == json.dumps(data)


def test_explicit_false_and_null_survive():
    """is_error: false stays; an explicit null is accepted and written back."""
    block = block_from_json({"type": "tool_result", "tool_use_id": "t", "is_error": False})
    assert isinstance(block, ToolResultBlock)
    assert block_to_json(block) == {"type": "tool_result", "tool_use_id": "t", "is_error": False}
    nulled = {"type": "text", "text": "x", "cache_control": None}
    typed = block_from_json(nulled)
    assert isinstance(typed, TextBlock)
    assert typed.cache_control is None
    assert json.dumps(block_to_json(typed)) == json.dumps(nulled)


@pytest.mark.parametrize(
    ("data", "path"),
    [
        ({"type": "text"}, "$.text"),
        ({"type": "text", "text": 5}, "$.text"),
        ({"type": "tool_use", "id": "x", "name": "n", "input": []}, "$.input"),
        ({"type": "tool_result", "tool_use_id": "t", "content": [{"type": "text"}]}, "$.content[0].text"),
        ({"type": "thinking", "thinking": "t"}, "$.signature"),
        ("not a block", "$"),
        ({"no": "type"}, "$.type"),
    ],
)
def test_malformed_blocks_raise_codec_error_with_path(data, path):
    """A malformed known block names the JSON path, never KeyError/TypeError."""
    with pytest.raises(CodecError) as info:
        block_from_json(data)
    assert info.value.path == path


def test_payload_errors_carry_message_paths():
    """Paths inside a payload point at the message and block."""
    payload = {"messages": [{"role": "user", "content": [{"type": "text", "text": "ok"}, {"type": "image"}]}]}
    with pytest.raises(CodecError) as info:
        Conversation.from_payload(payload)
    assert info.value.path == "$.messages[0].content[1].source"
    with pytest.raises(CodecError) as info:
        Conversation.from_payload({"messages": [{"role": "robot", "content": "x"}]})
    assert info.value.path == "$.messages[0].role"
    with pytest.raises(CodecError):
        Conversation.from_payload({"messages": "nope"})
    with pytest.raises(CodecError):
        content_from_json(5)


def test_tool_use_input_is_read_only():
    """Nested JSON inside blocks cannot be edited in place."""
    block = ToolUseBlock("toolu_1", "calc", {"a": [1, 2]})
    assert isinstance(block.input, FrozenDict)
    with pytest.raises(TypeError):
        block.input["a"].append(3)
    with pytest.raises(TypeError):
        block.input["b"] = 1


@given(png_bytes())
def test_image_from_bytes_sniffs_png(data):
    """from_bytes reads the media type from the bytes and round-trips them."""
    block = ImageBlock.from_bytes(data)
    assert block.source.media_type == "image/png"
    assert block.decoded() == data


def test_image_helpers_sniff_every_supported_type(tmp_path):
    """gif, webp and jpeg are recognised; from_path does the same."""
    assert sniff_media_type(GIF) == "image/gif"
    assert image_size(GIF) == (2, 3)
    for make in (_webp_lossless, _webp_extended, _webp_lossy):
        assert sniff_media_type(make(300, 7)) == "image/webp"
        assert image_size(make(300, 7)) == (300, 7)
    assert sniff_media_type(_jpeg(640, 480)) == "image/jpeg"
    assert image_size(_jpeg(640, 480)) == (640, 480)
    assert image_size(b"\x89PNG\r\n\x1a\n") is None  # truncated header
    path = tmp_path / "x.bin"
    path.write_bytes(GIF)
    assert ImageBlock.from_path(path).source.media_type == "image/gif"
    assert ImageBlock.from_url("https://x/y.png").source.url == "https://x/y.png"


def test_unsupported_image_bytes_are_a_rule_error():
    """BMP, text or truncated bytes are refused with image-media-type."""
    for data in (b"BM\x00\x00", b"hello", b""):
        with pytest.raises(RuleError) as info:
            ImageBlock.from_bytes(data)
        assert info.value.rule == "image-media-type"


def test_bad_base64_is_a_rule_error_with_index():
    """Invalid base64 is reported when the turn is appended, naming the turn."""
    payload = {"messages": [{"role": "user", "content": [
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "!!not base64"}},
        {"type": "text", "text": "what?"}]}]}
    with pytest.raises(RuleError) as info:
        Conversation.from_payload(payload)
    assert (info.value.rule, info.value.index) == ("image-media-type", 0)


def test_unsupported_declared_media_type_is_a_rule_error():
    """image/bmp is not an API media type."""
    data = base64.b64encode(b"BM" + b"\x00" * 20).decode()
    payload = {"messages": [{"role": "user", "content": [
        {"type": "image", "source": {"type": "base64", "media_type": "image/bmp", "data": data}}]}]}
    with pytest.raises(RuleError) as info:
        Conversation.from_payload(payload)
    assert info.value.rule == "image-media-type"


def test_split_response_rejects_non_messages():
    """A response must be an assistant message with content."""
    with pytest.raises(CodecError):
        split_response({"type": "error", "error": {}})
    with pytest.raises(CodecError):
        split_response({"role": "user", "content": []})
    with pytest.raises(CodecError):
        split_response({"type": "message", "role": "assistant"})
    with pytest.raises(CodecError):
        split_response([])
    blocks_, meta = split_response({"type": "message", "role": "assistant", "content": [], "id": "m"})
    assert blocks_ == () and meta == {"id": "m"}


def test_text_block_validates_types():
    """Building a block with a wrong type fails at once."""
    with pytest.raises(TypeError):
        TextBlock(5)  # type: ignore[arg-type]
