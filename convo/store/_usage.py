"""``store.usage``: a thread's usage ledger, written once for both stores.

``read`` runs in one transaction (``Store``/``AsyncStore`` run it on their
connection), so the thread and the ``since`` thread are read from one
snapshot: a save between the two reads cannot make a request count twice
or not at all.  ``ledger_of`` then builds the conversations and sums them
exactly as ``Conversation.usage`` does (it *is* that call), so the two
can never disagree.
"""

from __future__ import annotations

from convo.store import _ops
from convo.store._sql import Tx
from convo.usage import Ledger, PriceTable

__all__ = ["Read", "ledger_of", "read"]

Read = tuple[_ops.Loaded, _ops.Loaded | None]
"""The rows of the thread and of the ``since`` thread (``None``: no since)."""


def read(tx: Tx, thread_id: str, since: str | None) -> Read:
    """The rows ``ledger_of`` needs, in the caller's transaction."""
    loaded = _ops.load(tx, thread_id)
    return loaded, None if since is None else _ops.load(tx, since)


def ledger_of(
    thread_id: str, since: str | None, rows: Read, prices: PriceTable | None
) -> Ledger:
    """The ledger of the rows ``read`` returned.

    Raises:
        IntegrityError, TurnNotFoundError: a stored chain is damaged (named
            by its thread).
    """
    loaded, since_loaded = rows
    conversation = _ops.guarded(_ops.to_conversation, thread_id, loaded)
    base = (
        None
        if since is None or since_loaded is None
        else _ops.guarded(_ops.to_conversation, since, since_loaded)
    )
    return _ops.guarded(lambda _: conversation.usage(since=base, prices=prices), thread_id)
