"""``TestDatabase``: the public facade. Settings make a ``Golden``; the isolation scopes share its clones."""

import copy
import sys

from dbtestkit.backends import backend_for
from dbtestkit.config import find_config_file, private_cache_dir, resolve_settings
from dbtestkit.exceptions import ConfigurationError
from dbtestkit.golden.derived import DerivedGolden
from dbtestkit.golden.golden import Golden
from dbtestkit.golden.seeds import Seed
from dbtestkit.golden.snapshot import Snapshot
from dbtestkit.golden.sources import AlembicSource, MetadataSource
from dbtestkit.isolation import ClassScope, SharedScope


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
        sqlite_foreign_keys=None,
        archive=None,
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
            url=url, alembic_ini=alembic_ini, cache_dir=cache_dir, keep=keep, name=name,
            sqlite_foreign_keys=sqlite_foreign_keys, archive=archive,
        )
        if alembic_config is not None:
            self.source = AlembicSource.from_config(alembic_config)
        elif metadata is not None:
            self.source = MetadataSource(metadata)
        elif self.settings.alembic_ini:
            self.source = AlembicSource.from_ini(
                self.settings.alembic_ini, origin=self.settings.origin("alembic_ini")
            )
        else:
            raise ConfigurationError(
                "TestDatabase has no schema source: pass alembic_ini=, alembic_config= or "
                "metadata=, or set alembic_ini in setup.cfg [dbtestkit], pyproject.toml "
                "[tool.dbtestkit] or DBTESTKIT_ALEMBIC_INI."
            )
        self.seeds = tuple(Seed(seed) for seed in seeds)
        # For histories that do not start from an empty database.
        self.before_migrations = tuple(Seed(step) for step in before_migrations)
        self.name = self.settings.name or self.source.label
        self.keep = self.settings.keep
        # Created only now, so a configuration error leaves no cache directory behind.
        settings = self.settings
        self.cache_dir = private_cache_dir(settings.cache_dir, settings.origins.get("cache_dir"))
        self.backend = backend_for(settings.url, self.cache_dir, settings.origin("url"))
        self.golden = Golden(self.backend, self.source, seeds=self.seeds, before=self.before_migrations,
                             name=self.name, cache_dir=self.cache_dir,
                             enforce_foreign_keys=settings.sqlite_foreign_keys,
                             archive=settings.archive)
        # Module name -> the scopes module_fixtures() made for it, which its classes join.
        self._module_scopes = {}

    # -- the golden -----------------------------------------------------------

    def fingerprint(self):
        """Return the hex sha256 of everything that shapes the golden."""
        return self.golden.fingerprint()

    def ensure_golden(self, progress=None):
        """Build the golden if no trusted one exists; return it (``.url``, ``.built``).

        ``progress=True`` reports every migration of a build; the default
        reports only builds that take long, or all with DBTESTKIT_VERBOSE=1.
        """
        return self.golden.ensure(progress)

    def export(self, directory):
        """Write the golden (built first if need be) into ``directory`` as a portable archive; return its path.

        The file is named by the fingerprint; with ``archive=`` (or
        DBTESTKIT_ARCHIVE) naming that directory, a later run restores the
        golden from it instead of migrating.
        """
        return self.golden.export(directory)

    def clone(self, kind=None):
        """Return a new copy of the golden; ``kind="shared"`` when another process must open it.

        The default (``"in_process"``) is the fastest clone this process can
        use: in memory on SQLite, a database on the servers, whose every
        clone is shared anyway.
        """
        return self.golden.clone(kind)

    def snapshot(self, load, expected=None):
        """Return an unopened ``Snapshot``: a clone holding what ``load(connection)`` commits, copied per test.

        ``open()`` (or ``with``) makes it, ``clone(kind=None)`` copies it,
        ``close()`` drops it; ``GoldenFileTestCase.setUpTestData`` uses one per
        class. ``expected``: how many copies will be taken, when known.
        """
        return Snapshot(self.golden, load, expected)

    def with_seeds(self, *seeds, name=None):
        """Return a ``TestDatabase`` whose golden is this one's plus ``seeds``, built from a copy of it.

        The migrations do not run again: the new golden is a copy of this
        one's with the seeds run on top, rebuilt when this golden or the
        seeds' sources change. ``name`` defaults to this name and the seeds'.
        """
        extra = tuple(Seed(seed) for seed in seeds)
        if not extra:
            raise ConfigurationError("with_seeds() needs at least one seed (a callable or a .sql path).")
        derived = copy.copy(self)
        derived.seeds = self.seeds + extra
        derived.name = name or "+".join([self.name, *(seed.short_name for seed in extra)])
        derived.golden = DerivedGolden(self.golden, extra, name=derived.name)
        derived._module_scopes = {}
        return derived

    def prune(self, keep_newest=0):
        """Delete this project's goldens of other fingerprints, keeping the ``keep_newest`` newest.

        Goldens built under another ``name`` (other projects sharing the
        cache or the server) are left alone. Returns the deleted names.
        """
        return self.golden.prune(keep_newest)

    def prune_kept(self, keep_newest=0):
        """Delete this project's clones kept after failures, keeping the ``keep_newest`` newest.

        Returns the deleted ``KeptClone`` entries.
        """
        return self.golden.prune_kept(keep_newest)

    def discard_golden(self):
        """Delete the golden of the current fingerprint, if there is one (the next use builds it); return whether there was."""
        return self.golden.discard()

    def stop_pooling(self):
        """Make each clone when it is asked for, in the caller's thread, instead of ahead in a background pool."""
        self.golden.close()
        self.golden.pooled = False

    def pool_status(self):
        """Return, per pool of clones made ahead (servers), how many are ready, being made, left to drop."""
        return self.golden.pool_status()

    def close(self):
        """Drop the clones prepared ahead for this database (also done at exit)."""
        self.golden.close()

    # -- isolation scopes -----------------------------------------------------

    def module_fixtures(self, module=None):
        """Return ``(setUpModule, tearDownModule)`` sharing one connection and transaction.

        ``module`` defaults to the name of the module that calls this method;
        its ``DatabaseTestCase`` classes join the transaction while it is open.
        """
        if module is None:
            module = sys._getframe(1).f_globals.get("__name__")
        scope = self.shared_scope()
        self._module_scopes.setdefault(module, []).append(scope)

        def setUpModule():
            scope.open()

        def tearDownModule():
            scope.close()

        return setUpModule, tearDownModule

    def shared_scope(self, load=None):
        """Return a new ``SharedScope``: one outer transaction that test classes join (a nose2 layer, a fixture).

        ``load(connection)`` inserts data that every class joining it sees.
        """
        return SharedScope(self.golden, load)

    def class_scope(self, load=None, module=None, shared=None):
        """Return the (unopened) ``ClassScope`` one test class runs in, as ``DatabaseTestCase`` uses it.

        On ``open()`` it joins ``shared`` (a scope of this database), else the
        open module scope of ``module`` (see ``module_fixtures``), else opens
        a transaction of its own; ``load(connection)`` inserts the class data.
        """
        if shared is None or shared.golden is not self.golden or shared.outer is None:
            shared = self._open_module_scope(module)
        return ClassScope(self.golden, load or _no_class_data, shared)

    def async_scope(self, load=None):
        """Return a new (unopened) ``AsyncScope``: a clone holding ``load``'s data, for async tests.

        ``load(connection)`` (sync) or ``async load(connection)`` runs once, on
        ``open()``; ``await scope.begin_test()`` gives each test its own
        connection, savepoint and ``AsyncSession``, in that test's loop.
        """
        # Imported here: suites without async tests never load SQLAlchemy's asyncio support.
        from dbtestkit.async_isolation import AsyncScope

        return AsyncScope(self.golden, load)

    def async_clone(self, kind=None):
        """Return a new copy of the golden as an ``AsyncClone`` (``.url`` with the async driver, ``.engine``)."""
        from dbtestkit.async_isolation import AsyncClone

        clone = self.golden.clone(kind)
        try:
            return AsyncClone(clone)
        except BaseException:  # the async driver is missing: leave nothing behind
            clone.drop()
            raise

    def _open_module_scope(self, module):
        for scope in self._module_scopes.get(module, ()):
            if scope.outer is not None:
                return scope
        return None

    def __repr__(self):
        return f"<TestDatabase {self.name} on {self.backend.name}>"


def _no_class_data(connection):
    """Load nothing: the class has no setUpTestData."""


_default_databases = {}


def default_database(near=None):
    """Return the ``TestDatabase`` made from configuration alone, one per configuration file.

    setup.cfg or pyproject.toml is looked for from ``near`` (a test module's folder) upwards,
    then from the working directory.
    """
    key = find_config_file(near) if near else None
    key = key or find_config_file()
    if key not in _default_databases:
        _default_databases[key] = TestDatabase(_search_from=near)
    return _default_databases[key]
