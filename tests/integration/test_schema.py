"""The schema is created by migrations alone and behaves the same on SQLite and MariaDB (utf8mb4)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.registrants.models import Registrant


def test_japanese_and_four_byte_text_round_trip(app, make_registrant):
    """Names with kanji variants and emoji survive the database (utf8mb4, not MySQL's 3-byte utf8)."""
    created = make_registrant(family_name="𠮷野", given_name="髙子🌸", family_name_kana="ヨシノ")
    with app.app_context():
        stored = db.session.get(Registrant, created.id)
        assert (stored.family_name, stored.given_name) == ("𠮷野", "髙子🌸")


def test_migrations_leave_no_table_without_a_primary_key(app):
    with app.app_context():
        inspector = sa.inspect(db.engine)
        for table in inspector.get_table_names():
            if table == "alembic_version":
                continue
            assert inspector.get_pk_constraint(table)["constrained_columns"], table


@pytest.mark.mariadb
def test_mariadb_tables_are_utf8mb4_innodb_with_japanese_comments(migrated_mariadb):
    """On MariaDB the column descriptions of the DB definition document are real column comments."""
    engine = sa.create_engine(migrated_mariadb)
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.text(
                "SELECT table_name, engine, table_collation FROM information_schema.tables "
                "WHERE table_schema = DATABASE() AND table_name <> 'alembic_version'")).all()
            comment = conn.scalar(sa.text(
                "SELECT column_comment FROM information_schema.columns WHERE table_schema = DATABASE() "
                "AND table_name = 'registrant' AND column_name = 'family_name'"))
    finally:
        engine.dispose()
    assert len(rows) == len(db.metadata.tables)
    for name, table_engine, collation in rows:
        assert table_engine == "InnoDB", name
        assert collation.startswith("utf8mb4"), (name, collation)
    assert comment == "氏"


@pytest.mark.mariadb
def test_models_and_migrations_agree_on_mariadb_including_comments(migrated_mariadb):
    """A model change (even a changed description) without a migration is caught on the production database."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    engine = sa.create_engine(migrated_mariadb)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            differences = compare_metadata(context, db.metadata)
    finally:
        engine.dispose()
    assert differences == []


def test_sqlite_enforces_foreign_keys_like_mariadb(app):
    from datetime import date

    with app.app_context():
        db.session.add(Registrant(family_name="森", given_name="蓮", family_name_kana="モリ", given_name_kana="レン",
                                  email="fk@example.com", valid_until=date(2027, 3, 31), region_id=999999))
        with pytest.raises(sa.exc.IntegrityError):
            db.session.commit()
        db.session.rollback()


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("mariadb", marks=pytest.mark.mariadb)])
def test_every_migration_can_be_undone_and_redone(backend, tmp_path, request):
    """Upgrade to head, downgrade to nothing, upgrade again: an operator can roll a release back."""
    from flask_migrate import downgrade, upgrade

    from app import create_app
    from tests.conftest import SECRET

    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'roundtrip.sqlite3'}"
    else:
        url = request.getfixturevalue("mariadb_server").create_database("tsunagu_roundtrip")
    app = create_app({"secret_key": SECRET, "database_url": url, "auth_log": str(tmp_path / "auth.log")})
    with app.app_context():
        upgrade()
        downgrade(revision="base")
        assert set(sa.inspect(db.engine).get_table_names()) <= {"alembic_version"}
        upgrade()
        assert set(db.metadata.tables) <= set(sa.inspect(db.engine).get_table_names())
        db.engine.dispose()
