"""Tests that need a database of their own: a clone of the golden per test."""

import sqlalchemy as sa

from bookshop.models import Author


def test_a_real_commit_is_seen_by_a_new_connection(db_url, db_engine):
    with db_engine.begin() as connection:
        connection.execute(sa.insert(Author).values(name="Ursula K. Le Guin", sort_name="Le Guin, Ursula K."))
    other = sa.create_engine(db_url)
    try:
        with other.connect() as connection:
            assert connection.scalar(sa.select(sa.func.count()).select_from(Author)) == 1
    finally:
        other.dispose()


def test_ddl_is_fine_and_the_next_clone_is_pristine(db_clone):
    with db_clone.engine.begin() as connection:
        assert connection.scalar(sa.select(sa.func.count()).select_from(Author)) == 0
        connection.execute(sa.text("CREATE TABLE scratch (id INTEGER)"))
    assert "scratch" in sa.inspect(db_clone.engine).get_table_names()
