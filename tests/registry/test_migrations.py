"""Alembic migrations create, remove and recreate the schema on SQLite and PostgreSQL alike, and the
models never drift from them (autogenerate finds nothing to add)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect
from sqlalchemy.engine import Engine

from registry.db import Database
from registry.migrate import alembic_config, downgrade, upgrade
from registry.models import Base


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """An engine on the empty test database (SQLite file or fresh PostgreSQL database)."""
    engine = create_engine(database_url)
    try:
        yield engine
    finally:
        engine.dispose()


def _tables(engine: Engine) -> set[str]:
    return set(inspect(engine).get_table_names()) - {"alembic_version"}


def _revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def _head(engine: Engine) -> str:
    heads = ScriptDirectory.from_config(alembic_config(engine)).get_heads()
    assert len(heads) == 1, f"migrations have branched: {heads}"
    return heads[0]


def test_upgrade_downgrade_and_upgrade_again(engine: Engine) -> None:
    model_tables = set(Base.metadata.tables)
    upgrade(engine)
    assert _tables(engine) == model_tables
    assert _revision(engine) == _head(engine)

    downgrade(engine, "base")
    assert _tables(engine) == set()
    assert _revision(engine) is None

    upgrade(engine)
    assert _tables(engine) == model_tables
    assert _revision(engine) == _head(engine)


def test_every_revision_downgrades_and_upgrades_one_step_at_a_time(engine: Engine) -> None:
    script = ScriptDirectory.from_config(alembic_config(engine))
    revisions = [r.revision for r in reversed(list(script.walk_revisions()))]
    for revision in revisions:
        upgrade(engine, revision)
        assert _revision(engine) == revision
    for index in range(len(revisions) - 1, -1, -1):
        downgrade(engine, revisions[index - 1] if index else "base")
    assert _tables(engine) == set()


def test_models_match_the_migrations(engine: Engine) -> None:
    upgrade(engine)
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={
            "compare_type": True,
            "render_as_batch": connection.dialect.name == "sqlite",
        })
        differences = compare_metadata(context, Base.metadata)
    assert differences == [], "models and migrations differ: write a migration (alembic revision --autogenerate)"


def test_migrating_an_up_to_date_database_changes_nothing(database_url: str) -> None:
    database = Database(database_url)
    try:
        database.migrate()
        before = {name: inspect(database.engine).get_columns(name) for name in _tables(database.engine)}
        database.migrate()
        after = {name: inspect(database.engine).get_columns(name) for name in _tables(database.engine)}
        assert [str(c) for c in before.items()] == [str(c) for c in after.items()]
        assert _revision(database.engine) == _head(database.engine)
    finally:
        database.dispose()
