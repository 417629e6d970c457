"""``TestDatabase``: the public facade over configuration, golden and clones."""

import atexit
import sys
import threading
import time

from dbtestkit.backends import backend_for
from dbtestkit.backends.clone import drop_live_clones
from dbtestkit.config import private_cache_dir, resolve_settings
from dbtestkit.exceptions import ConfigurationError
from dbtestkit.golden.fingerprint import compute_fingerprint, library_versions
from dbtestkit.golden.build import ensure_golden
from dbtestkit.golden.sources import AlembicSchema, MetadataSchema
from dbtestkit.golden.seeds import Seed
from dbtestkit.golden.journal import journal_build
from dbtestkit.report import RUN

atexit.register(drop_live_clones)


class TestDatabase:
    """A golden database built once from migrations (or MetaData), and cheap clones of it."""

    # Not a test, despite the name: keep pytest and nose2 from collecting it.
    __test__ = False

    def __init__(
        self,
        url=None,
        *,
        alembic_ini=None,
        alembic_config=None,
        metadata=None,
        seeds=(),
        before_migrations=(),
        name=None,
        cache_dir=None,
        keep=None,
        _search_from=None,
        _keyword_origins=None,
    ):
        explicit = [n for n, v in (("alembic_ini", alembic_ini), ("alembic_config", alembic_config),
                                   ("metadata", metadata)) if v is not None]
        if len(explicit) > 1:
            raise ConfigurationError(
                f"TestDatabase takes exactly one schema source, got {' and '.join(explicit)}; "
                "pass only one of alembic_ini=, alembic_config=, metadata=."
            )
        self.settings = resolve_settings(
            _search_from, _keyword_origins,
            url=url, alembic_ini=alembic_ini, cache_dir=cache_dir, keep=keep, name=name
        )
        if alembic_config is not None:
            self.schema = AlembicSchema.from_config(alembic_config)
        elif metadata is not None:
            self.schema = MetadataSchema(metadata)
        elif self.settings.alembic_ini:
            self.schema = AlembicSchema.from_ini(
                self.settings.alembic_ini, origin=self.settings.origin("alembic_ini")
            )
        else:
            raise ConfigurationError(
                "TestDatabase has no schema source: pass alembic_ini=, alembic_config= or "
                "metadata=, or set alembic_ini in setup.cfg [dbtestkit] or DBTESTKIT_ALEMBIC_INI."
            )
        self.seeds = tuple(Seed(seed) for seed in seeds)
        # For histories that do not start from an empty database.
        self.before_migrations = tuple(Seed(step) for step in before_migrations)
        self.name = self.settings.name or self.schema.label
        self.keep = self.settings.keep
        # Created only now, so a configuration error leaves no cache directory behind.
        settings = self.settings
        self.cache_dir = private_cache_dir(settings.cache_dir, settings.origins.get("cache_dir"))
        self.backend = backend_for(settings.url, self.cache_dir, settings.origin("url"))
        self._golden = None
        self._pools = {}
        self._pools_lock = threading.Lock()

    def fingerprint(self):
        """Return the hex sha256 of everything that shapes the golden."""
        parts = [("backend", self.backend.identity())]
        parts += self.schema.fingerprint_parts(self.backend.dialect)
        for step in self.before_migrations:
            parts += [(f"before:{label}", data) for label, data in step.fingerprint_parts()]
        for seed in self.seeds:
            parts += seed.fingerprint_parts()
        parts += library_versions()
        return compute_fingerprint(parts)

    def ensure_golden(self, progress=None):
        """Build the golden if no trusted one exists; return it (``.url``, ``.built``).

        ``progress=True`` reports every migration of a build; the default
        reports only builds that take long, or all with DBTESTKIT_VERBOSE=1.
        """
        self._golden = ensure_golden(
            self.backend, self.schema, self.seeds, self.fingerprint(), self.name, progress,
            before=self.before_migrations,
        )
        if self._golden.built:
            journal_build(self.cache_dir, self._golden, self.backend.name)
        RUN.golden_ready(self._golden, self.name)
        return self._golden

    def clone(self, kind=None):
        """Return a new copy of the golden; ``kind="shared"`` when another process must open it.

        The default (``"in_process"``) is the fastest clone this process can
        use: in memory on SQLite, a database on the servers, whose every
        clone is shared anyway.
        """
        kind = self.backend.clone_storage(kind)
        # The golden is checked once per TestDatabase, not per clone: hashing
        # the history again would double the cost of a clone.
        golden = self._golden or self.ensure_golden()
        started = time.perf_counter()
        clone = self._clone_from(golden, kind)
        clone.project = self.name
        RUN.clone_made(time.perf_counter() - started)
        return clone

    def _clone_from(self, golden, kind):
        if self.backend.pooled:
            return self._pool_for(golden.fingerprint, kind).take()
        try:
            return self.backend.clone(golden.fingerprint, kind)
        except Exception:
            record = self.backend.read_record(golden.fingerprint)
            if record is not None and record.mismatch(golden.fingerprint) is None:
                raise
            # Pruned, or changed behind our back, since we checked: build it again.
            return self.backend.clone(self.ensure_golden().fingerprint, kind)

    def _pool_for(self, fingerprint, kind):
        from dbtestkit.golden.pool import ClonePool

        key = (fingerprint, kind)
        with self._pools_lock:
            if key not in self._pools:
                self._pools[key] = ClonePool(lambda: self.backend.clone(fingerprint, kind))
            return self._pools[key]

    def prune(self, keep_newest=0):
        """Delete this project's goldens of other fingerprints, keeping the ``keep_newest`` newest.

        Goldens built under another ``name`` (other projects sharing the
        cache or the server) are left alone. Returns the deleted names.
        """
        return self.backend.prune({self.fingerprint()}, keep_newest, label=self.name)

    def prune_kept(self, keep_newest=0):
        """Delete this project's clones kept after failures, keeping the ``keep_newest`` newest.

        Returns the deleted ``KeptClone`` entries.
        """
        return self.backend.prune_kept(keep_newest, label=self.name)

    def close(self):
        """Drop the clones prepared ahead for this database (also done at exit)."""
        pools, self._pools = self._pools, {}
        for pool in pools.values():
            pool.close()

    def module_fixtures(self, module=None):
        """Return ``(setUpModule, tearDownModule)`` sharing one connection and transaction.

        ``module`` defaults to the name of the module that calls this method.
        """
        from dbtestkit.isolation import ModuleScope

        if module is None:
            module = sys._getframe(1).f_globals.get("__name__")
        return ModuleScope(self, module).fixtures()

    def __repr__(self):
        return f"<TestDatabase {self.name} on {self.backend.name}>"


_default_databases = {}


def default_database(near=None):
    """Return the ``TestDatabase`` made from configuration alone, one per setup.cfg.

    setup.cfg is looked for from ``near`` (a test module's folder) upwards,
    then from the working directory.
    """
    from dbtestkit.config import find_setup_cfg

    key = find_setup_cfg(near) if near else None
    key = key or find_setup_cfg()
    if key not in _default_databases:
        _default_databases[key] = TestDatabase(_search_from=near)
    return _default_databases[key]
