"""Data-migration tests: one test's database, moved through the history a revision at a time.

A test stops before a data migration, inserts rows, runs it and reads what it
did. The database starts at base (empty); its clone is made on first use:
a clone of the empty golden walked up, or, when a test goes straight to a
revision that is cheaper to reach from head, a clone of the golden at head
walked down (what a downgrade costs against an upgrade is the backend's
``downgrade_step_cost``, measured by ``benchmarks/data_migrations.py``).
"""

import sqlalchemy as sa

from dbtestkit.exceptions import ConfigurationError
from dbtestkit.migrations import driver

BASE_NAMES = ("base",)
HEAD_NAMES = ("head", "heads")


class Stepper:
    """One test's database on ``runner``'s history: ``up_to``, ``up_one``, ``down_one``, ``down_to``, ``insert_into``.

    ``walk_down`` lets the first ``up_to`` start from the golden at head
    when that is cheaper; ``start`` forces ``"empty"`` or ``"head"``.
    ``connection`` reads and writes the database; what it did is committed
    before each step, so the migrations see it.
    """

    def __init__(self, runner, walk_down=True, start=None):
        self.runner = runner
        self.history = runner.history
        self.walk_down = walk_down
        self.start = start
        self.clone = None
        # Where the database is: the revisions its version table records (() = base).
        self.heads = ()
        # "empty" or "head": what the clone was made from, once it is made.
        self.started_from = None
        self._connection = None

    # -- where the database is -----------------------------------------------

    @property
    def connection(self):
        """A connection to the test's database (made at base on first use)."""
        if self.clone is None:
            self._start("empty")
        if self._connection is None:
            self._connection = self.clone.engine.connect()
        return self._connection

    def where(self):
        """Return where the database is, as a user names it: ``base`` or the head labels."""
        if not self.heads:
            return "base"
        return ", ".join(self.history.label(self.history.script.get_revision(h)) for h in self.heads)

    # -- moving ----------------------------------------------------------------

    def up_to(self, name):
        """Upgrade to revision ``name`` (an id, a file label, or ``head``)."""
        destination = self._resolve(name, "migrate_up_to")
        if self.clone is None and self._cheaper_start(destination) == "head":
            self._start("head")
            try:
                self._walk(self._between(destination, False, f"migrate_up_to({name!r})", None), False)
                return
            except AssertionError:
                if self.start is not None:
                    raise
                # A downgrade that does not run is not what this test is about: walk up instead.
                self.close()
        self._walk_to(destination, True, name)

    def down_to(self, name):
        """Downgrade to revision ``name`` (an id, a file label, or ``base``)."""
        self._walk_to(self._resolve(name, "migrate_down_to"), False, name)

    def _walk_to(self, destination, up, name):
        # From the clone as it is (an empty one if none yet), one revision at a time.
        if self.clone is None:
            self._start("empty")
        if self._at(destination):
            return
        called, other = ("migrate_up_to", "migrate_down_to") if up else ("migrate_down_to", "migrate_up_to")
        self._walk(self._between(destination, up, f"{called}({name!r})", other), up)

    def up_one(self):
        """Upgrade by one revision."""
        if self.clone is None:
            self._start("empty")
        if set(self.heads) == set(self.history.heads):
            raise ConfigurationError(f"migrate_up_one(): the database is at head ({self.where()}) already.")
        self._walk(self._between("+1", True, "migrate_up_one()", None), True)

    def down_one(self):
        """Downgrade by one revision."""
        if self.clone is None:
            self._start("empty")
        if not self.heads:
            raise ConfigurationError("migrate_down_one(): the database is at base already.")
        self._walk(self._between("-1", False, "migrate_down_one()", None), False)

    def insert_into(self, table, rows):
        """Insert ``rows`` (dicts, or one dict) into ``table`` as it is now, and commit."""
        rows = [rows] if isinstance(rows, dict) else list(rows)
        connection = self.connection
        try:
            reflected = sa.Table(table, sa.MetaData(), autoload_with=connection)
        except sa.exc.NoSuchTableError:
            tables = ", ".join(sorted(sa.inspect(connection).get_table_names())) or "none"
            raise ConfigurationError(
                f"insert_into({table!r}): there is no such table at {self.where()}; tables: {tables}."
            ) from None
        columns = set(reflected.columns.keys())
        unknown = sorted({key for row in rows for key in row} - columns)
        if unknown:
            raise ConfigurationError(
                f"insert_into({table!r}): {table} has no column {', '.join(unknown)} at "
                f"{self.where()}; its columns: {', '.join(reflected.columns.keys())}."
            )
        if rows:
            connection.execute(reflected.insert(), rows)
        connection.commit()

    def close(self):
        """Close the connection and drop the clone."""
        if self._connection is not None:
            self._connection.close()
            self._connection = None
        if self.clone is not None:
            self.clone.drop()
            self.clone = None

    # -- helpers -----------------------------------------------------------------

    def _resolve(self, name, method):
        if not isinstance(name, str):
            raise ConfigurationError(f"{method}() takes a revision id or file label, got {name!r}.")
        if name in BASE_NAMES:
            return "base"
        if name in HEAD_NAMES:
            return "heads"
        revision = self.history.find(name)
        if revision is None:
            raise ConfigurationError(
                f"{method}({name!r}): no revision of {self.history.where} has that id or file "
                f"name; known revisions: {self.history.summary()} (or 'base', 'head')."
            )
        return revision.revision

    def _at(self, destination):
        if destination == "base":
            return not self.heads
        if destination == "heads":
            return set(self.heads) == set(self.history.heads)
        return set(self.heads) == {destination}

    def _between(self, destination, upgrade, call, other):
        try:
            revisions = driver.revisions_between(self.history.script, self.heads, destination, upgrade)
        except ConfigurationError as error:
            hint = f"; to go the other way, use {other}()" if other else ""
            raise ConfigurationError(
                f"{call}: the database is at {self.where()}, and Alembic cannot walk there: "
                f"{error}{hint}."
            ) from None
        if not revisions and other:
            raise ConfigurationError(
                f"{call}: the database is at {self.where()}, past that revision; use {other}()."
            )
        return revisions

    def _cheaper_start(self, destination):
        if self.start is not None:
            return self.start
        if not self.walk_down or destination == "base":
            return "empty"
        if destination == "heads":
            return "head"
        up = driver.revisions_between(self.history.script, (), destination, True)
        down = driver.revisions_between(self.history.script, self.history.heads, destination, False)
        if any(revision.revision in self.runner.protected_revisions() for revision in down):
            return "empty"
        # A downgrade step costs this many upgrade steps on this backend.
        cost = self.runner.database.backend.downgrade_step_cost
        return "head" if len(down) * cost < len(up) else "empty"

    def _start(self, start):
        if start == "head":
            # Alembic's batch migrations need SQLite's foreign keys off.
            self.clone = self.runner.golden().clone(enforce_foreign_keys=False)
            self.heads = tuple(sorted(self.history.heads))
        else:
            self.clone = self.runner.empty_golden().clone(enforce_foreign_keys=False)
            self.heads = ()
        self.started_from = start

    def _walk(self, revisions, upgrade):
        if self._connection is not None and self._connection.in_transaction():
            # The migration must see what the test wrote, and must not wait for its locks.
            self._connection.commit()

        def plan(migrator):
            for revision in revisions:
                yield from (migrator.up(revision) if upgrade else migrator.down(revision))
            self.heads = tuple(sorted(migrator.context.get_current_heads()))

        self.runner.walk(self.clone, plan)
