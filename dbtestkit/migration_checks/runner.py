"""The runner every migration check runs on: one history, the clones it starts from, a walk."""

import contextlib
from dataclasses import dataclass

from dbtestkit.exceptions import ConfigurationError, DbtestkitError, MigrationError, describe_error
from dbtestkit.golden.sources import AlembicSource
from dbtestkit.migration_checks.twins import empty_twin, unseeded_twin
from dbtestkit.migrations import driver
from dbtestkit.migrations.history import History, failure, first_line
from dbtestkit.migrations.migrator import Migrator
from dbtestkit.migrations.snapshots import Rewalk
from dbtestkit.process_state import preserved


@dataclass
class CheckOptions:
    """What a user can tell the checks: models, tables to ignore, the downgrade floor."""

    metadata: object = None
    ignore_tables: tuple = ()
    include_object: object = None
    minimum_downgrade_revision: "str | None" = None


class MigrationRunner:
    """One history, the clones it starts from, and a way to walk it: what every check runs on.

    ``database`` is a ``TestDatabase`` built from Alembic migrations; the
    checks use its golden (``database.golden``) and twins of it.
    """

    def __init__(self, database, options=None, keeper=None):
        if not isinstance(database.golden.source, AlembicSource):
            raise ConfigurationError(
                f"{database!r} is built from MetaData; the migration checks need a TestDatabase "
                "built from Alembic migrations (alembic_ini= or alembic_config=)."
            )
        self.database = database
        self.options = options or CheckOptions()
        self.project = database.golden.source.project
        self.keeper = keeper

    @property
    def history(self):
        """The ``History`` of this project (loaded once per process)."""
        return History.of(self.project)

    def protected_revisions(self):
        """Return the ids of the floor and its ancestors, whose downgrades are never run."""
        floor = self.options.minimum_downgrade_revision
        if floor is None:
            return frozenset()
        revision = self.history.find(floor)
        if revision is None:
            raise ConfigurationError(
                f"minimum_downgrade_revision = {floor!r} is not a revision of {self.history.where}; "
                f"known revisions: {self.history.summary()}."
            )
        return frozenset(r.revision for r in self.history.script.iterate_revisions(revision.revision, "base"))

    def empty_golden(self):
        """Return the golden that walks from base start from: an empty database (but for before steps)."""
        return empty_twin(self.database.golden)

    @contextlib.contextmanager
    def empty_clone(self):
        """Yield a clone of the empty golden, dropped afterwards."""
        with self.empty_golden().clone(enforce_foreign_keys=False) as clone:
            yield clone

    def golden(self):
        """Return the golden of the history at head, built if need be.

        It holds no seeds: checks start from what the migrations make. A
        failed build names the revision that broke.
        """
        golden = unseeded_twin(self.database.golden)
        try:
            golden.ensure()
        except MigrationError as error:
            revision = self.history.find(error.revision) if error.revision else None
            if revision is not None and error.__cause__ is not None:
                raise self.history.step_failure((revision, "upgrade"), error.__cause__) from None
            raise failure(f"The migrations do not upgrade an empty database to head: {error}") from None
        return golden

    @contextlib.contextmanager
    def migrated_clone(self, read_only=False):
        """Yield a clone of the golden at head (without seeds).

        A ``read_only`` user hands its clone, untouched, to the ``keeper`` for
        the next check; otherwise the clone is dropped afterwards.
        """
        golden = self.golden()
        clone = self.keeper.take() if self.keeper is not None else None
        if clone is None:
            # Walked by Alembic, whose batch migrations need SQLite's foreign keys off.
            clone = golden.clone(enforce_foreign_keys=False)
        try:
            yield clone
        finally:
            if read_only and self.keeper is not None:
                self.keeper.keep(clone)
            else:
                clone.drop()

    def walk(self, clone, plan):
        """Run env.py once on ``clone`` and apply the steps ``plan(migrator)`` yields."""
        history = self.history
        migrators = []
        # env.py may build an engine of its own from the URL: reachable before Alembic
        # connects, and through an async driver for an env.py that builds an async engine.
        url = clone.share()
        url = clone.backend.async_url(url) if self.project.async_env else url
        with clone.engine.connect() as connection:

            def migration_fn(heads, context):
                migrator = Migrator(history, context, connection, url, self.options, clone.backend)
                migrators.append(migrator)
                return plan(migrator)

            try:
                # env.py runs in this process: leave it as it was (logging, sys.path, ...).
                with preserved():
                    driver.walk(self.project, history.script, url, connection, migration_fn,
                                history.sys_path)
            except KeyboardInterrupt:
                raise
            except BaseException as error:  # SystemExit too: a migration's sys.exit() is its failure
                if migrators and migrators[-1].running is not None:
                    raise history.step_failure(migrators[-1].running, error) from None
                if isinstance(error, (AssertionError, DbtestkitError, Rewalk)):
                    # A check's finding (its message says it all): without Alembic's frames.
                    raise error.with_traceback(None) from None
                if migrators and isinstance(error, Exception):
                    raise  # dbtestkit's own reading of the schema failed: keep the traceback
                when = "between revisions" if migrators else "before any revision ran"
                raise failure(
                    f"env.py ({self.project.script_location / 'env.py'}) failed {when}: "
                    f"{first_line(error)}",
                    ("Error", describe_error(error)),
                ) from None
        if not migrators:
            raise DbtestkitError(
                f"env.py ({self.project.script_location / 'env.py'}) never called "
                "context.run_migrations(), so dbtestkit could not check anything; run it in "
                "online mode as `alembic init` writes it."
            )
