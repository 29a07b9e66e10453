"""threads(meta=...): the indexed filter (SQLite ``thread_meta``, migration
0005; PostgreSQL's GIN index, 0004) agrees with a filter over every thread."""

from __future__ import annotations

import contextlib
import itertools
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from convo import Conversation
from convo.errors import CodecError, ThreadExistsError
from convo.store import Store

# No NUL: the store refuses it in a meta (test_a_nul_in_a_meta_is_refused).
TEXT = st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",))
KEYS = st.sampled_from(["user", "n", "a.b", '"q"', "$", "é", ""]) | st.text(TEXT, max_size=3)
SCALARS = st.one_of(
    st.sampled_from([0, 1, 1.0, 0.0, -0.0, True, False, "1", "0", "true", "", 10**16, 1e16]),
    st.booleans(),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(TEXT, max_size=4),
)
# Values a filter never matches (it takes scalars only), kept beside them.
VALUES = SCALARS | st.sampled_from([2**63, -(2**63) - 1, 10**30]) | st.none() | st.lists(st.integers(), max_size=2) | st.just({"x": 1})
METAS = st.dictionaries(KEYS, VALUES, max_size=4)

OPS = st.lists(
    st.one_of(
        st.tuples(st.just("save"), st.integers(0, 5), METAS | st.none()),
        st.tuples(st.just("fork"), st.integers(0, 5), st.integers(0, 5), METAS | st.none()),
        st.tuples(st.just("delete"), st.integers(0, 5)),
    ),
    max_size=12,
)


def matches(meta: dict[str, Any], wanted: dict[str, Any]) -> bool:
    """The documented rule: every key present, of the same JSON type, equal."""
    return all(
        key in meta and type(meta[key]) is type(value) and meta[key] == value
        for key, value in wanted.items()
    )


def twins(value: Any) -> list[Any]:
    """Values equal to ``value`` in SQL or Python, of other JSON types."""
    out: list[Any] = [str(value)]
    if isinstance(value, bool):
        out += [int(value), float(value)]
    elif isinstance(value, int):
        out += [float(value)] + ([bool(value)] if value in (0, 1) else [])
    elif isinstance(value, float) and value.is_integer():
        out += [int(value)] + ([bool(value)] if value in (0.0, 1.0) else [])
    return [v for v in out if type(v) is not int or -(2**63) <= v < 2**63]


def filterable(value: Any) -> bool:
    """A value a filter may ask for (scalars; ints in 64 bits)."""
    if type(value) is int:
        return -(2**63) <= value < 2**63
    return isinstance(value, (str, int, float))


_EXAMPLE = itertools.count()


@pytest.mark.parametrize(
    "backend", ["sqlite-memory", pytest.param("postgres", marks=pytest.mark.postgres)],
    indirect=True,
)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=OPS, filters=st.lists(st.dictionaries(KEYS, SCALARS, min_size=1, max_size=2), max_size=3),
       picks=st.lists(st.integers(0, 1000), max_size=3))
def test_the_filter_is_the_filter_over_every_thread(store: Store, ops, filters, picks):
    """Random metas of mixed types, updates, forks and deletes; the store
    accumulates threads over the examples, and every filter (random ones,
    and sub-filters of stored metas, so that some match) gives exactly the
    threads a scan of all of them gives, in order, and pages alike."""
    prefix = f"e{next(_EXAMPLE)}-"
    for op in ops:
        if op[0] == "save":
            _, n, meta = op
            store.save(f"{prefix}{n}", Conversation().user(f"q{n}"), meta=meta)
        elif op[0] == "fork":
            _, source, target, meta = op
            if f"{prefix}{source}" in {i.id for i in store.threads()}:
                with contextlib.suppress(ThreadExistsError):
                    store.fork(f"{prefix}{source}", new_id=f"{prefix}f{target}", meta=meta)
        elif f"{prefix}{op[1]}" in {i.id for i in store.threads()}:
            store.delete(f"{prefix}{op[1]}")
    everything = store.threads()
    scalars = [
        {k: v for k, v in info.meta.items() if filterable(v)}
        for info in everything
    ]
    stored = [meta for meta in scalars if meta]
    for pick in picks:
        if stored:
            meta = stored[pick % len(stored)]
            keys = sorted(meta)[: 1 + pick % 2]
            filters.append({key: meta[key] for key in keys})
            # The same value under another JSON type must not match it.
            key = keys[0]
            filters += [{key: twin} for twin in twins(meta[key])]
    for wanted in filters:
        expected = [info.id for info in everything if matches(dict(info.meta), wanted)]
        assert [info.id for info in store.threads(meta=wanted)] == expected, wanted
        paged, cursor = [], None
        while True:
            page = store.threads(meta=wanted, limit=2, after=cursor)
            paged += [info.id for info in page]
            cursor = page.next_cursor
            if cursor is None:
                break
        assert paged == expected


@pytest.mark.parametrize("backend", ["sqlite-file"], indirect=True)
def test_a_meta_filter_is_read_through_thread_meta(store):
    """SQLite (0005): a meta filter finds its threads through
    thread_meta's primary key, never by reading every thread (the matching
    threads are then sorted for the page)."""
    from convo.store._listing import _statement
    from convo.store._sql import Tx

    for i in range(50):
        store.save(f"t{i}", Conversation().user(f"q{i}"), meta={"user": f"u{i % 5}", "n": i})
    raw = store.engine.raw_connection()
    try:
        tx = Tx(raw.driver_connection, store._statements, Exception)
        for order in ("updated", "created", "oldest"):
            for keys in (("user",), ("n", "user")):
                statement = _statement(tx, order=order, limited=True, after=True, title=False,
                                       forked_from=False, meta_keys=keys)
                params: dict[str, Any] = {"limit": 5, "after_t": 0, "after_id": ""}
                for n, key in enumerate(keys):
                    params.update({f"meta_key{n}": key, f"meta{n}": 1, f"meta_type{n}": "integer"})
                plan = [
                    str(row[-1])
                    for row in raw.driver_connection.execute(
                        "EXPLAIN QUERY PLAN " + statement.sql, statement.bind(params)
                    )
                ]
                assert any("SEARCH m0 USING PRIMARY KEY (key=? AND kind=? AND value=?)" in step
                           for step in plan), plan
                assert not any(step.startswith("SCAN") for step in plan), plan
    finally:
        raw.close()
    assert [i.id for i in store.threads(meta={"user": "u1", "n": 6})] == ["t6"]


def test_every_write_of_a_meta_keeps_the_filter(store):
    """Create, save with a new meta, save without one (kept), fork (copied or
    replaced), delete: the filter follows each."""
    store.save("a", Conversation().user("q"), meta={"user": "u1", "n": 1})
    store.save("b", Conversation().user("q"), meta={"user": "u1", "n": 1.0, "on": True})

    def ids(**meta: Any) -> list[str]:
        return sorted(i.id for i in store.threads(meta=meta))

    assert ids(user="u1") == ["a", "b"]
    assert (ids(n=1), ids(n=1.0), ids(on=True), ids(on=1)) == (["a"], ["b"], ["b"], [])
    store.save("a", Conversation().user("q").assistant("r"))  # meta kept
    assert ids(user="u1") == ["a", "b"]
    store.save("a", Conversation().user("q").assistant("r"), meta={"user": "u2"})
    assert (ids(user="u1"), ids(user="u2"), ids(n=1)) == (["b"], ["a"], [])
    store.fork("b", new_id="c")
    store.fork("b", new_id="d", meta={"user": "u3"})
    assert (ids(user="u1"), ids(user="u3"), ids(on=True)) == (["b", "c"], ["d"], ["b", "c"])
    store.delete("b")
    assert (ids(user="u1"), ids(on=True)) == (["c"], ["c"])


def test_a_nul_in_a_meta_is_refused(store):
    """PostgreSQL's jsonb cannot hold U+0000 and SQLite's JSON functions cut
    text at it (a filter on "a" would find "a\\x00b"): every backend refuses
    it in a meta, before any SQL, and a filter holding one is a ValueError."""
    for meta in ({"k": "a\x00b"}, {"a\x00": 1}, {"k": [{"x": "\x00"}]}):
        with pytest.raises(CodecError, match="NUL"):
            store.save("t", Conversation().user("q"), meta=meta)
    assert store.threads() == []
    store.save("t", Conversation().user("q"), meta={"k": "a"})
    with pytest.raises(CodecError, match="NUL"):
        store.fork("t", new_id="f", meta={"k": "\x00"})
    with pytest.raises(ValueError, match="NUL"):
        store.threads(meta={"k": "a\x00b"})
    with pytest.raises(ValueError, match="64 bits"):
        store.threads(meta={"k": 2**63})
    with pytest.raises(ValueError, match="finite"):
        store.threads(meta={"k": float("nan")})
    assert [i.id for i in store.threads(meta={"k": "a"})] == ["t"]


@pytest.mark.parametrize(
    "backend", ["sqlite-file", pytest.param("postgres", marks=pytest.mark.postgres)],
    indirect=True,
)
def test_upgrade_0004_to_0005_indexes_every_existing_meta(db_url):
    """A full database goes back to 0004 (SQLite: thread_meta and its
    triggers dropped), is changed there, and upgrades again: 0005 fills
    thread_meta from every row, and every filter equals the scan."""
    from sqlalchemy import create_engine, inspect, text

    from convo.store import current_revision, downgrade, upgrade

    with Store(db_url) as store:
        for i in range(60):
            store.save(
                f"t{i:02d}",
                Conversation().user(f"q{i}"),
                meta={"user": f"u{i % 4}", "n": i % 3, "x": float(i % 3), "on": i % 2 == 0,
                      "deep": {"user": "u1"}},
            )
        for i in range(0, 60, 7):
            store.fork(f"t{i:02d}", new_id=f"f{i:02d}")
        store.delete("t05")
    assert downgrade(db_url, "0004") == "0004"
    engine = create_engine(db_url)
    try:
        assert "thread_meta" not in inspect(engine).get_table_names()
        with engine.begin() as conn:  # a 0004 writer changes a meta
            conn.execute(text("UPDATE threads SET meta = '{\"user\": \"late\"}' WHERE id = 't01'"))
            conn.execute(text("DELETE FROM threads WHERE id = 't02'"))
    finally:
        engine.dispose()
    assert upgrade(db_url) == "0006" == current_revision(db_url)
    with Store(db_url) as store:
        everything = store.threads()
        assert len(everything) == 60 - 2 + 9
        for wanted in ({"user": "u1"}, {"user": "late"}, {"n": 1}, {"n": 1.0}, {"x": 1.0},
                       {"on": True}, {"on": 1}, {"user": "u2", "on": True}, {"deep": "u1"}):
            expected = [info.id for info in everything if matches(dict(info.meta), wanted)]
            assert [info.id for info in store.threads(meta=wanted)] == expected, wanted
        assert [i.id for i in store.threads(meta={"user": "late"})] == ["t01"]
        if store.engine.dialect.name == "sqlite":
            with store.engine.connect() as conn:
                rows = conn.execute(text("SELECT count(*) FROM thread_meta")).scalar()
            assert rows == 4 * (len(everything) - 1) + 1  # "deep" is not a scalar


@pytest.mark.parametrize("backend", ["sqlite-file"], indirect=True)
def test_the_head_schema_keeps_thread_meta_in_step(store):
    """The three triggers exist at head: a later revision that rebuilds
    ``threads`` in batch mode (which drops a table's triggers) must create
    them again (migrations/README.md)."""
    from sqlalchemy import text

    with store.engine.connect() as conn:
        names = set(conn.execute(text(
            "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'threads'"
        )).scalars())
    assert names == {"thread_meta_insert", "thread_meta_update", "thread_meta_delete"}
