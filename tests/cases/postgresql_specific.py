"""Savepoint-per-test behaviour that only PostgreSQL has: transactional DDL, deferred constraints.

Run by tests.backends.test_postgresql_specific in a subprocess with DBTESTKIT_URL naming a
PostgreSQL server. Methods run in name order: each ``test_1_*`` does something
the ``test_2_*`` after it must not see. ``DeferredConstraint.test_1_*`` is
expected to error at teardown (and only there).
"""

import atexit
import shutil
import tempfile
from pathlib import Path

import sqlalchemy as sa

import dbtestkit
from tests import support

ROOT = Path(tempfile.mkdtemp(prefix="dbtestkit-pg-cases-"))
atexit.register(shutil.rmtree, ROOT, True)

REVISIONS = [
    ("0001", "create parent and child", (
        'op.create_table("parent", sa.Column("id", sa.Integer, primary_key=True))\n'
        'op.create_table(\n'
        '    "child",\n'
        '    sa.Column("id", sa.Integer, primary_key=True),\n'
        '    sa.Column("parent_id", sa.Integer, nullable=False),\n'
        '    sa.ForeignKeyConstraint(\n'
        '        ["parent_id"], ["parent.id"], name="fk_child_parent",\n'
        '        deferrable=True, initially="DEFERRED",\n'
        '    ),\n'
        ')\n'
        'op.execute("INSERT INTO parent (id) VALUES (1)")'
    ), 'op.drop_table("child")\nop.drop_table("parent")'),
]

# Looked up on the module (not imported by name) so a runner may make the project unique.
DB = dbtestkit.TestDatabase(
    alembic_ini=support.write_project(ROOT / "project", REVISIONS),
    cache_dir=ROOT / "cache",
    keep=False,
)

parent = sa.table("parent", sa.column("id"))
child = sa.table("child", sa.column("id"), sa.column("parent_id"))


def setUpModule():
    if DB.backend.name != "postgresql":
        raise RuntimeError(f"these cases need DBTESTKIT_URL to name a PostgreSQL server, not {DB!r}")


def table_names(connection):
    return set(sa.inspect(connection).get_table_names())


class TransactionalDdl(dbtestkit.DatabaseTestCase):
    database = DB

    def test_1_creates_a_table(self):
        self.connection.execute(sa.text("CREATE TABLE scratch (id INTEGER)"))
        self.session.execute(sa.text("INSERT INTO scratch (id) VALUES (1)"))
        self.session.commit()
        self.assertIn("scratch", table_names(self.connection))

    def test_2_the_table_is_gone(self):
        self.assertNotIn("scratch", table_names(self.connection))
        self.assertIn("child", table_names(self.connection))

    def test_3_alter_is_undone_too(self):
        self.connection.execute(sa.text("ALTER TABLE parent ADD COLUMN note TEXT"))
        columns = {c["name"] for c in sa.inspect(self.connection).get_columns("parent")}
        self.assertIn("note", columns)

    def test_4_column_is_gone(self):
        columns = {c["name"] for c in sa.inspect(self.connection).get_columns("parent")}
        self.assertEqual(columns, {"id"})


class DeferredConstraint(dbtestkit.DatabaseTestCase):
    database = DB

    def test_1_violates_deferred_foreign_key(self):
        # Deferred: neither the INSERT nor the Session's commit (a RELEASE
        # SAVEPOINT) checks it. dbtestkit must check it at teardown.
        self.session.execute(sa.insert(child).values(id=1, parent_id=999))
        self.session.commit()
        self.assertEqual(self.session.execute(sa.select(child.c.parent_id)).scalars().all(), [999])

    def test_2_next_test_is_clean(self):
        self.assertEqual(self.session.execute(sa.select(child.c.id)).scalars().all(), [])

    def test_3_constraints_are_still_deferred(self):
        # If the teardown's SET CONSTRAINTS ALL IMMEDIATE leaked into this
        # test, inserting the child before its parent would fail right here.
        self.session.execute(sa.insert(child).values(id=2, parent_id=2))
        self.session.execute(sa.insert(parent).values(id=2))
        self.session.commit()
        self.assertEqual(self.session.execute(sa.select(child.c.parent_id)).scalars().all(), [2])

    def test_4_valid_data_passes_teardown(self):
        self.session.execute(sa.insert(child).values(id=3, parent_id=1))
        self.session.commit()


class OuterConnection(dbtestkit.DatabaseTestCase):
    database = DB

    def test_runs_on_a_clone_of_this_fingerprint(self):
        name = self.connection.execute(sa.text("SELECT current_database()")).scalar()
        fingerprint = DB.fingerprint()
        self.assertRegex(name, rf"^dbtk_clone_{fingerprint[:12]}_")
        self.assertNotEqual(name, DB.backend.golden_name(fingerprint))
        self.assertNotEqual(name, DB.backend.url.database)
        self.assertEqual(self.engine.url.database, name)
        self.assertEqual(self.session.execute(sa.text("SELECT current_database()")).scalar(), name)
