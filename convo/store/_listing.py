"""``threads()`` page by page: a cursor, filters and an order, served by indexes.

A page is one keyset query: ``ORDER BY <order columns> LIMIT n`` with a
condition "after the last row of the previous page", so the database walks
the index of that order (``ix_threads_listing_updated``,
``ix_threads_listing_created``, ``ix_threads_title``, migration 0003; the
title index holds titled threads only since 0006) from
the cursor and reads only the page, however many threads there are.

The cursor is opaque text: the order, and the sort key (timestamp and id)
of the last thread of the page. Filters: ``title`` (exact),
``forked_from`` (a thread id), ``meta`` (every key equal: ``{"user":
"u1"}``). On PostgreSQL a meta filter is ``meta::jsonb @> :filter``,
served by the GIN index ``ix_threads_meta`` (``jsonb_path_ops``, migration
0004). On SQLite it is ``id IN (SELECT thread FROM thread_meta ...)``: the
side table of migration 0005 (one row per scalar key of each thread's meta,
typed by ``json_type``, kept by triggers), read through its primary key
``(key, kind, value, thread)``; the threads found are
then sorted for the page (a sort of the matching threads, not of every
thread: the order's timestamps are not in the side table, since a save
would then rewrite every key's row).
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final, Literal

from sqlalchemy import (
    Boolean,
    Text,
    and_,
    bindparam,
    cast,
    func,
    literal_column,
    or_,
    select,
    true,
)
from sqlalchemy.dialects.postgresql import JSON, JSONB

from convo.errors import StoreError
from convo.store._info import ThreadInfo
from convo.store._sql import THREAD_COLUMNS, Compiled, Tx
from convo.store.schema import thread_meta, threads, turns

__all__ = ["ORDERS", "ThreadOrder", "ThreadPage", "list_threads"]

ThreadOrder = Literal["updated", "created", "oldest"]
ORDERS: Final = ("updated", "created", "oldest")
"""``updated``: most recently changed first (the default); ``created``:
newest first; ``oldest``: oldest first. Ties are broken by id (descending
with the newest-first orders, ascending with ``oldest``)."""

MetaValue = str | int | float | bool


class ThreadPage(list[ThreadInfo]):
    """One page of ``threads()``: a list of ``ThreadInfo``, plus
    ``next_cursor`` (pass it as ``after=`` for the next page; ``None`` when
    this page is the last)."""

    next_cursor: str | None

    def __init__(self, items: list[ThreadInfo], next_cursor: str | None = None) -> None:
        super().__init__(items)
        self.next_cursor = next_cursor


def encode_cursor(order: str, info: ThreadInfo) -> str:
    stamp = info.created_at if order != "updated" else info.updated_at
    raw = json.dumps([order, stamp.isoformat(), info.id], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, order: str) -> tuple[datetime, str]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        kind, stamp, thread_id = json.loads(base64.urlsafe_b64decode(padded.encode()))
        when = datetime.fromisoformat(stamp)
    except (ValueError, TypeError) as exc:
        raise StoreError(f"not a threads() cursor: {cursor[:40]!r}") from exc
    if kind != order or not isinstance(thread_id, str):
        raise StoreError(f"this cursor is for order={kind!r}, not order={order!r}")
    return when, thread_id


def _check(order: str, limit: Any, meta: Mapping[Any, Any] | None) -> None:
    if order not in ORDERS:
        raise ValueError(f"order must be one of {ORDERS}, got {order!r}")
    if limit is not None and (not isinstance(limit, int) or limit < 1):
        raise ValueError(f"limit must be a positive int, got {limit!r}")
    for key, value in (meta or {}).items():
        if not isinstance(key, str) or not isinstance(value, MetaValue):
            raise ValueError(
                f"a meta filter maps str keys to str, int, float or bool values, got {key!r}: "
                f"{value!r}"
            )
        if type(value) is int and not -(2**63) <= value < 2**63:
            raise ValueError(
                f"a meta filter's int must fit in 64 bits (SQLite's integers), got {value!r}"
            )
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"a meta filter's float must be finite (as a meta's), got {value!r}")
        if "\x00" in key or (isinstance(value, str) and "\x00" in value):
            raise ValueError(
                "a meta filter cannot hold a NUL character: no thread's meta holds one "
                "(convo.inputs)"
            )


def _meta_match(alias: Any, n: int) -> tuple[Any, ...]:
    return (
        alias.c.key == bindparam(f"meta_key{n}"),
        alias.c.kind == bindparam(f"meta_type{n}"),
        alias.c.value == bindparam(f"meta{n}"),
    )


def _statement(
    tx: Tx,
    *,
    order: str,
    limited: bool,
    after: bool,
    title: bool,
    forked_from: bool,
    meta_keys: tuple[str, ...],
) -> Compiled:
    """The compiled query for one shape of call (cached on the dialect's statements)."""
    s = tx.s
    cache: dict[tuple[Any, ...], Compiled] = s.__dict__.setdefault("_listing_cache", {})
    key = (order, limited, after, title, forked_from, meta_keys)
    found = cache.get(key)
    if found is not None:
        return found
    head = turns.alias("head")
    joined = threads.outerjoin(
        head, and_(head.c.rid == threads.c.head, head.c.key == threads.c.head_key)
    )
    stamp = threads.c.updated_at if order == "updated" else threads.c.created_at
    query = select(*THREAD_COLUMNS, head.c.id, head.c.depth, threads.c.head_key).select_from(
        joined
    )
    conditions: list[Any] = []
    if title:
        conditions.append(threads.c.title == bindparam("title"))
    if forked_from:
        conditions.append(threads.c.forked_from_thread == bindparam("forked_from"))
    if meta_keys:
        if s.is_postgresql:
            conditions.append(
                cast(threads.c.meta, JSONB).op("@>")(cast(bindparam("meta"), JSONB))
            )
            # jsonb compares numbers by value (1 = 1.0): the stored text
            # (json, not jsonb, keeps the literal) tells an int from a float,
            # as SQLite's json_type does. Checked on the rows the GIN index found.
            for n in range(len(meta_keys)):
                name = bindparam(f"meta_key{n}", type_=Text)
                kind = func.jsonb_typeof(cast(threads.c.meta, JSONB).op("->")(name))
                number = kind == literal_column("'number'")
                literal = cast(cast(threads.c.meta, JSON).op("->")(name), Text)
                real = literal.op("~", return_type=Boolean)(literal_column("'[.eE]'"))
                conditions.append(or_(~number, real == bindparam(f"meta_real{n}", type_=Boolean)))
        else:
            # The threads with every (key, kind, value): a range of the
            # primary key for the first, one lookup of it per thread for
            # the others (migration 0005).
            aliases = [thread_meta.alias(f"m{n}") for n in range(len(meta_keys))]
            first = aliases[0]
            matched = select(first.c.thread).where(*_meta_match(first, 0))
            for n, other in enumerate(aliases[1:], start=1):
                matched = matched.join(
                    other, and_(other.c.thread == first.c.thread, *_meta_match(other, n))
                )
            conditions.append(threads.c.id.in_(matched))
    if after:
        t: Any = bindparam("after_t")
        i: Any = bindparam("after_id")
        if order == "oldest":
            conditions.append(or_(stamp > t, and_(stamp == t, threads.c.id > i)))
        else:
            conditions.append(or_(stamp < t, and_(stamp == t, threads.c.id < i)))
    query = query.where(and_(true(), *conditions))
    # One direction for both columns: the index is read forwards (oldest)
    # or backwards, never sorted.
    if order == "oldest":
        query = query.order_by(stamp.asc(), threads.c.id.asc())
    else:
        query = query.order_by(stamp.desc(), threads.c.id.desc())
    if limited:
        query = query.limit(bindparam("limit"))
    compiled = cache[key] = Compiled(query, s.dialect)
    return compiled


def _sqlite_json(value: MetaValue) -> tuple[Any, str]:
    """``value`` as ``thread_meta`` holds it: ``json_each``'s atom and ``json_type``."""
    if isinstance(value, bool):
        return int(value), "true" if value else "false"
    if isinstance(value, int):
        return value, "integer"
    if isinstance(value, float):
        return value, "real"
    return value, "text"


def list_threads(
    tx: Tx,
    *,
    limit: int | None,
    after: str | None,
    title: str | None,
    meta: Mapping[str, MetaValue] | None,
    forked_from: str | None,
    order: str,
) -> ThreadPage:
    """One page of threads (see ``Store.threads``)."""
    from convo.store._ops import _info

    _check(order, limit, meta)
    meta_keys = tuple(sorted(meta or {}))
    statement = _statement(
        tx,
        order=order,
        limited=limit is not None,
        after=after is not None,
        title=title is not None,
        forked_from=forked_from is not None,
        meta_keys=meta_keys,
    )
    params: dict[str, Any] = {}
    if limit is not None:
        params["limit"] = limit
    if title is not None:
        params["title"] = title
    if forked_from is not None:
        params["forked_from"] = forked_from
    if meta:
        if tx.s.is_postgresql:
            params["meta"] = json.dumps(dict(meta))
            for n, name in enumerate(meta_keys):
                params[f"meta_key{n}"] = name
                params[f"meta_real{n}"] = isinstance(meta[name], float)
        else:
            for n, name in enumerate(meta_keys):
                params[f"meta_key{n}"] = name
                params[f"meta{n}"], params[f"meta_type{n}"] = _sqlite_json(meta[name])
    if after is not None:
        when, thread_id = decode_cursor(after, order)
        params["after_t"] = tx.s.ts(when)
        params["after_id"] = thread_id
    infos = [_info(tx.s, row) for row in tx.rows(statement, params)]
    full = limit is not None and len(infos) == limit
    return ThreadPage(infos, encode_cursor(order, infos[-1]) if full and infos else None)
