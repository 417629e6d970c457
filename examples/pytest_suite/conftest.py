"""The database of this suite: the bookshop's migrations, built once, then cached."""

from pathlib import Path

import pytest

import dbtestkit

BOOKSHOP = Path(__file__).resolve().parent.parent / "bookshop"


@pytest.fixture(scope="session")
def dbtestkit_database():
    # Without this fixture, dbtestkit reads setup.cfg [dbtestkit] and DBTESTKIT_* settings.
    return dbtestkit.TestDatabase(alembic_ini=str(BOOKSHOP / "alembic.ini"))
