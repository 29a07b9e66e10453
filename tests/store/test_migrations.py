"""Migrations: created at head, upgraded when older, refused when newer."""

from __future__ import annotations

import ast
import multiprocessing
import shutil
import sqlite3
import traceback
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from convo.errors import SchemaVersionError, StoreError
from convo.store import Store, current_revision, downgrade, head_revision, upgrade
from convo.store.migrate import ensure_schema, migrations_dir
from convo.store.schema import VERSION_TABLE, include_object, metadata

from .conftest import FILE_BACKENDS, chat

pytestmark = pytest.mark.parametrize("backend", FILE_BACKENDS, indirect=True)

REVISION_NEXT = '''"""A test-only revision: a column added in batch mode, and an index."""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("threads") as batch:
        batch.add_column(
            sa.Column("archived", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    op.create_index("ix_threads_test_only", "threads", ["title"])


def downgrade() -> None:
    op.drop_index("ix_threads_test_only", table_name="threads")
    with op.batch_alter_table("threads") as batch:
        batch.drop_column("archived")
'''


def newer_migrations(tmp_path: Path) -> Path:
    """A copy of convo's migrations with one more revision, 0007."""
    target = tmp_path / "migrations"
    shutil.copytree(migrations_dir(), target, ignore=shutil.ignore_patterns("__pycache__"))
    (target / "versions" / "0007_archived.py").write_text(REVISION_NEXT)
    return target


def test_empty_database_gets_the_head_schema(db_url):
    """Opening a store on an empty database creates every table at head."""
    assert current_revision(db_url) is None
    with Store(db_url) as store:
        store.save("t", chat(2))
        tables = set(inspect(store.engine).get_table_names())
    assert {"turns", "threads", VERSION_TABLE} <= tables
    assert current_revision(db_url) == head_revision() == "0006"


def test_migrated_schema_matches_the_models(db_url):
    """alembic check: the migrations build exactly what schema.py describes."""
    with Store(db_url) as store, store.engine.connect() as conn:
        context = MigrationContext.configure(
            conn,
            opts={
                "version_table": VERSION_TABLE,
                "compare_type": True,
                "include_object": include_object,
            },
        )
        assert compare_metadata(context, metadata) == []


def test_newer_database_is_refused(db_url):
    """A revision this convo does not know: the error says to upgrade convo."""
    with Store(db_url) as store, store.engine.begin() as conn:
        conn.exec_driver_sql(f"UPDATE {VERSION_TABLE} SET version_num = '9999'")
    with pytest.raises(SchemaVersionError) as caught:
        Store(db_url)
    err = caught.value
    assert (err.database_revision, err.head_revision, err.newer) == ("9999", "0006", True)
    assert "upgrade convo" in str(err)


def test_older_database_is_upgraded_or_refused(db_url, tmp_path):
    """With a newer convo (one more revision): auto_upgrade=False refuses and
    names the command; auto_upgrade migrates and keeps every row."""
    with Store(db_url) as store:
        store.save("t", chat(4), title="kept")
        store.fork("t", at=2, new_id="f")
        location = newer_migrations(tmp_path)
        with store.engine.connect() as conn:
            with pytest.raises(SchemaVersionError) as caught:
                ensure_schema(conn, auto_upgrade=False, script_location=location)
            err = caught.value
            assert (err.database_revision, err.head_revision, err.newer) == ("0006", "0007", False)
            assert "convo db upgrade" in str(err)
            ensure_schema(conn, auto_upgrade=True, script_location=location)
            ensure_schema(conn, auto_upgrade=False, script_location=location)  # now current
        assert current_revision(db_url) == "0007"
        columns = {c["name"] for c in inspect(store.engine).get_columns("threads")}
        assert "archived" in columns
        assert store.load("t") == chat(4)
        info = store.info("f")
        assert (info.forked_from, info.forked_at) == ("t", 2)  # the batch copy kept links
        assert store.info("t").title == "kept"


def test_auto_upgrade_false_still_creates_an_empty_database(db_url):
    """No data, nothing to protect: the schema is created."""
    with Store(db_url, auto_upgrade=False) as store:
        store.save("t", chat(1))
    with Store(db_url, auto_upgrade=False) as store:
        assert store.load("t") == chat(1)


def test_tables_without_a_version_table_are_refused(db_url):
    """A database with convo's table names but no history is not adopted."""
    engine = create_engine(db_url)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE turns (x INTEGER)")
    finally:
        engine.dispose()
    with pytest.raises(StoreError, match="no convo_alembic_version"):
        Store(db_url)


def test_upgrade_downgrade_and_current_helpers(db_url):
    """The helpers behind `convo db upgrade|current`; downgrades are tested."""
    assert current_revision(db_url) is None
    assert upgrade(db_url) == "0006"
    assert upgrade(db_url) == "0006"  # idempotent
    with Store(db_url) as store:
        store.save("t", chat(2))
    assert downgrade(db_url, "base") is None
    engine = create_engine(db_url)
    try:
        assert not {"turns", "threads"} & set(inspect(engine).get_table_names())
    finally:
        engine.dispose()
    assert upgrade(db_url) == "0006"
    with Store(db_url, auto_upgrade=False) as store:
        assert store.threads() == []


def test_migrations_are_found_in_a_checkout(backend):
    """Without an installed convo/_migrations, the repository's is used."""
    found = migrations_dir()
    assert (found / "env.py").is_file()
    assert found.name in ("migrations", "_migrations")


def test_revisions_are_self_contained(backend):
    """Revisions never import convo, are numbered in sequence, and downgrade."""
    versions = sorted((migrations_dir() / "versions").glob("*.py"))
    assert versions
    previous = None
    for number, path in enumerate(versions, start=1):
        tree = ast.parse(path.read_text())
        imported = {
            alias.name
            for node in ast.walk(tree)
            if isinstance(node, ast.Import)
            for alias in node.names
        } | {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
        assert not any(name.split(".")[0] == "convo" for name in imported), path
        values = {
            target.id: node.value
            for node in tree.body
            if isinstance(node, ast.Assign)
            for target in node.targets
            if isinstance(target, ast.Name)
        }
        revision = ast.literal_eval(values["revision"])
        assert revision == f"{number:04d}" and path.name.startswith(revision)
        assert ast.literal_eval(values["down_revision"]) == previous
        functions = {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}
        assert {"upgrade", "downgrade"} <= functions
        previous = revision


def _open_and_save(url: str, index: int, queue: Any) -> None:
    try:
        with Store(url) as store:
            store.save(f"t{index}", chat(2, tag=str(index)))
        queue.put((index, None))
    except BaseException:
        queue.put((index, traceback.format_exc()))


def test_processes_opening_a_new_database_migrate_it_once(backend, db_url):
    """Several processes opening one new database at once all succeed."""
    if backend == "sqlite-file":
        sqlite3.connect(db_url.removeprefix("sqlite:///")).close()  # an empty file
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    workers = [context.Process(target=_open_and_save, args=(db_url, i, queue)) for i in range(4)]
    for worker in workers:
        worker.start()
    errors = [error for _, error in (queue.get(timeout=120) for _ in workers) if error]
    for worker in workers:
        worker.join(60)
    assert errors == []
    assert [w.exitcode for w in workers] == [0, 0, 0, 0]
    with Store(db_url) as store:
        assert sorted(t.id for t in store.threads()) == ["t0", "t1", "t2", "t3"]
        with store.engine.connect() as conn:
            rows = conn.exec_driver_sql(f"SELECT version_num FROM {VERSION_TABLE}").fetchall()
        assert rows == [("0006",)]
