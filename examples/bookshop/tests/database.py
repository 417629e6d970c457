"""The test database shared by the bookshop test modules."""

from pathlib import Path

import dbtestkit

# An absolute path, so the tests run from any working directory.
ALEMBIC_INI = Path(__file__).resolve().parent.parent / "alembic.ini"

# Built once from the migrations, then cached until a migration changes.
DB = dbtestkit.TestDatabase(alembic_ini=str(ALEMBIC_INI))
