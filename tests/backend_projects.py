"""Throwaway Alembic projects on each backend, each with a fingerprint no other test or run shares.

``BackendProjectCase`` is a ``TempProjectCase`` whose ``backend`` (``sqlite``,
``postgresql`` or ``mysql``) says where its goldens live; a subclass per
server backend runs the same tests there. A unique comment in env.py keeps
concurrent runs on the shared servers apart, and every golden a test's
``database()`` can build is dropped after the test, even when it fails.
"""

import secrets

from tests import support
from tests.support import CONNECTION_ENV_PY, TempProjectCase


class BackendProjectCase(TempProjectCase):
    """A TempProjectCase on ``backend``: ``self.url`` (None: SQLite in the cache dir), ``child_env()``."""

    backend = "sqlite"
    base_env_py = CONNECTION_ENV_PY

    def setUp(self):
        # Before TempProjectCase.setUp, which hides DBTESTKIT_* (DBTESTKIT_REQUIRE too).
        self.url = None if self.backend == "sqlite" else support.server_url(self, self.backend)
        self.token = secrets.token_hex(8)
        super().setUp()

    @property
    def env_py(self):
        return f"{self.base_env_py}\n# dbtestkit test {self.token}\n"

    def database(self, **kwargs):
        """Return a TestDatabase over this project on ``backend``; its golden is dropped afterwards."""
        kwargs.setdefault("url", self.url)
        database = super().database(**kwargs)
        self.addCleanup(drop_golden, database)
        return database

    def child_env(self, **extra):
        """Return the environment a child process needs to use the same backend and cache."""
        env = {"DBTESTKIT_CACHE_DIR": str(self.cache_dir), **extra}
        if self.url:
            env["DBTESTKIT_URL"] = self.url
        return env


def drop_golden(database):
    """Drop ``database``'s golden (if built) and the clones it prepared ahead; close its connections."""
    database.close()
    database.backend.discard_golden(database.fingerprint())
    admin = getattr(database.backend, "admin", None)  # the server backends' pooled connections
    if admin is not None:
        admin.dispose()

