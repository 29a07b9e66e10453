"""Redaction of a short API key does not mangle the text around it."""

from __future__ import annotations

import httpx
import pytest

from convo.errors import BadRequestError
from convo.transport import HTTPTransport

PAYLOAD = {"model": "claude-opus-4-6", "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]}


def test_short_key_is_redacted_only_as_a_whole_token():
    """'fake' is redacted where it stands alone, not inside req_fake_400."""
    api = HTTPTransport("fake", client=httpx.Client())
    assert api.redact("req_fake_400 breakfake fake-ish") == "req_fake_400 breakfake fake-ish"
    assert api.redact("key=fake, 'fake'") == "key=[redacted], '[redacted]'"


def test_long_key_is_redacted_everywhere():
    """A real-length key is replaced wherever it appears, even glued to other text."""
    key = "sk-ant-api03-" + "x" * 40
    api = HTTPTransport(key, client=httpx.Client())
    assert api.redact(f"glued{key}glued and {key}") == "glued[redacted]glued and [redacted]"


@pytest.mark.parametrize("key", ["fake", "sk-ant-api03-" + "y" * 40])
def test_error_messages_keep_request_ids_with_a_short_key(key):
    """A 400 whose body echoes the key: the key is gone, the request id intact."""

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            400,
            headers={"request-id": "req_fake_400"},
            json={"type": "error", "error": {"type": "invalid_request_error",
                                             "message": f"bad key {key} (req_fake_400)"}},
        )

    api = HTTPTransport(key, client=httpx.Client(transport=httpx.MockTransport(handler)))
    with pytest.raises(BadRequestError) as caught:
        api.send(PAYLOAD)
    text = str(caught.value) + repr(caught.value.body)
    assert key not in text.replace("req_fake_400", "")
    assert "req_fake_400" in text and caught.value.request_id == "req_fake_400"
