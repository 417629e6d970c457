"""The test database shared by the task tracker's test modules."""

from pathlib import Path

import dbtestkit

# An absolute path, so the tests run from any working directory.
ALEMBIC_INI = Path(__file__).resolve().parent.parent / "alembic.ini"

# Built once (synchronously, outside any event loop) from the migrations,
# whose env.py is Alembic's async template, then cached until one changes.
# The URL comes from DBTESTKIT_URL: an async one (sqlite+aiosqlite://,
# postgresql+asyncpg://…) or a sync one, whose default async driver is used.
DB = dbtestkit.TestDatabase(alembic_ini=str(ALEMBIC_INI))
