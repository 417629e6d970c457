"""The backend contract: test classes written once and run against every backend of the run.

A contract is a mixin (not a TestCase, so it is never collected alone)
decorated with ``@for_each_backend()``; the decorator adds one TestCase per
backend to the mixin's module, e.g. ``CrashPointsOnSQLite``,
``CrashPointsOnPostgreSQL``, ``CrashPointsOnEmbeddedPostgreSQL`` (the same
backend on the embedded cluster) and ``CrashPointsOnMariaDB``. Each gets
``self.side`` (a ``tests.backends.sides`` object that knows where that backend
keeps things: ``url``, ``artifacts(fingerprint)``, ``golden_only(fingerprint)``,
``account(test, fingerprints)``), and ``self.make_database()``.

Servers come from ``tests.support.server_url``: a server that is down skips
its class, or fails it under DBTESTKIT_REQUIRE. Every test works on a project
of its own (a unique comment in env.py gives it a fingerprint nobody else
has) and cleans up only what carries that fingerprint.
"""

import secrets
import sys

from tests.support import CONNECTION_ENV_PY, TempProjectCase

BACKENDS = ("sqlite", "postgresql", "mysql")
# Class-name suffixes; the MySQL backend is tested on MariaDB here.
LABELS = {"sqlite": "SQLite", "postgresql": "PostgreSQL", "embedded": "EmbeddedPostgreSQL", "mysql": "MariaDB"}
# The sides each backend is tested on: PostgreSQL on the system server and on
# the embedded cluster (postgresql+embedded://), the same backend either way.
SIDES = {"sqlite": ("sqlite",), "postgresql": ("postgresql", "embedded"), "mysql": ("mysql",)}


def for_each_backend(*backends, sides=None):
    """Class decorator: add ``<Mixin>On<Backend>`` TestCases to the mixin's module, one per backend side.

    ``sides`` limits them to those sides (e.g. a server's own, for what is about its URL).
    """

    def decorate(mixin):
        module = sys.modules[mixin.__module__]
        for backend in backends or BACKENDS:
            for side in (s for s in SIDES[backend] if sides is None or s in sides):
                name = f"{mixin.__name__}On{LABELS[side]}"
                case = type(name, (mixin, BackendCase), {
                    "backend": backend, "side_name": side, "__module__": mixin.__module__,
                    "__qualname__": name,
                    "__doc__": f"{(mixin.__doc__ or mixin.__name__).strip()} ({LABELS[side]})",
                })
                setattr(module, name, case)
        return mixin

    return decorate


class BackendCase(TempProjectCase):
    """A TempProjectCase on one backend (``backend``), with a fingerprint no other test shares."""

    backend = None
    # Where the backend is tested: its own name, or "embedded" for PostgreSQL's embedded cluster.
    side_name = None

    def setUp(self):
        from tests.backends.sides import side_for

        # Before TempProjectCase.setUp, which hides DBTESTKIT_* (DBTESTKIT_REQUIRE too).
        self.side = side_for(self, self.side_name or self.backend)
        self.token = secrets.token_hex(8)
        super().setUp()
        self.side.attach(self)

    @property
    def env_py(self):
        return CONNECTION_ENV_PY + f"# dbtestkit test {self.id()} {self.token}\n"

    def make_database(self, url=None, **kwargs):
        """Return a TestDatabase on this backend (or ``url``); everything of it is removed after the test."""
        database = self.database(url=url or self.side.database_url, **kwargs)
        self.side.forget_after(self, database)
        return database

    def database_of_own_account(self, **kwargs):
        """Return ``(database, url)``: a TestDatabase as a throwaway account that may use its fingerprint."""
        url = self.side.account(self, [self.make_database(**kwargs).fingerprint()])
        return self.make_database(url=url, **kwargs), url
