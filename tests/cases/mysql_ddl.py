"""DDL inside a savepoint-per-test case on MySQL/MariaDB (run by tests.backends.test_mysql_specific).

MySQL commits implicitly before and after DDL, which ends the outer
transaction and erases every savepoint. dbtestkit must fail that test with
IsolationBroken and start the next one on a fresh clone, class data reloaded.
Methods run in name order: ``test_1_*`` breaks the transaction, the tests
after it check that nothing leaked.
"""

import sqlalchemy as sa

import dbtestkit
from tests.cases import DB, SEEDED_AUTHOR
from tests.cases.savepoint_cases import ClassData, author, names, titles

setUpModule, tearDownModule = DB.module_fixtures()

SCRATCH = "ddl_scratch"


def table_names(connection):
    return set(sa.inspect(connection).get_table_names())


def current_database(connection):
    return connection.exec_driver_sql("SELECT DATABASE()").scalar()


class DdlThroughTheSession(ClassData, dbtestkit.DatabaseTestCase):
    class_author = "DDL Class Author"
    # The database each test ran in, in order.
    databases_seen = []

    def test_1_insert_then_create_table(self):
        self.databases_seen.append(current_database(self.connection))
        self.assertEqual(names(self.session), sorted([SEEDED_AUTHOR, "DDL Class Author"]))
        self.session.execute(sa.insert(author).values(name="Written Before The DDL"))
        self.session.flush()
        self.session.execute(sa.text(f"CREATE TABLE {SCRATCH} (id INTEGER PRIMARY KEY)"))
        # The body passes; the implicit commit is found when the test's savepoint is undone.

    def test_2_fresh_clone_without_the_row_or_the_table(self):
        self.databases_seen.append(current_database(self.connection))
        self.assertEqual(len(self.databases_seen), 2, "test_1 did not run first")
        self.assertNotEqual(
            self.databases_seen[0], self.databases_seen[1],
            "after the implicit commit the test ran on the same clone, which holds the commit",
        )
        self.assertEqual(names(self.session), sorted([SEEDED_AUTHOR, "DDL Class Author"]))
        self.assertEqual(titles(self.session), [])
        self.assertNotIn(SCRATCH, table_names(self.connection))


class AfterTheDdl(ClassData, dbtestkit.DatabaseTestCase):
    """The next class of the module shares the new outer transaction: it must be pristine."""

    class_author = "Next Class Author"

    def test_pristine_in_next_class(self):
        self.assertEqual(names(self.session), sorted([SEEDED_AUTHOR, "Next Class Author"]))
        self.assertNotIn(SCRATCH, table_names(self.connection))


class DdlThroughTheConnection(dbtestkit.DatabaseTestCase):
    """DDL as the test's last statement, outside any Session savepoint."""

    database = DB
    databases_seen = []

    def test_1_create_table_on_the_connection(self):
        self.databases_seen.append(current_database(self.connection))
        self.session.execute(sa.insert(author).values(name="Committed By The DDL"))
        self.session.commit()
        self.connection.exec_driver_sql(f"CREATE TABLE {SCRATCH} (id INTEGER PRIMARY KEY)")

    def test_2_fresh_clone_without_the_row_or_the_table(self):
        self.databases_seen.append(current_database(self.connection))
        self.assertEqual(len(self.databases_seen), 2, "test_1 did not run first")
        self.assertNotEqual(self.databases_seen[0], self.databases_seen[1])
        self.assertEqual(names(self.session), [SEEDED_AUTHOR])
        self.assertNotIn(SCRATCH, table_names(self.connection))
