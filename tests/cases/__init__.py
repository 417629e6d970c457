"""Test modules that dbtestkit's own tests run as inner suites (not discovered directly).

They share one throwaway Alembic project (tests.support's default history:
author, book, a batch alter, one seeded author) and one private cache.
"""

import atexit
import shutil
import tempfile
from pathlib import Path

import dbtestkit
from tests.support import write_project

ROOT = Path(tempfile.mkdtemp(prefix="dbtestkit-cases-"))
atexit.register(shutil.rmtree, ROOT, True)
DB = dbtestkit.TestDatabase(
    alembic_ini=write_project(ROOT / "project"), cache_dir=ROOT / "cache", keep=False
)
SEEDED_AUTHOR = "Ursula K. Le Guin"
