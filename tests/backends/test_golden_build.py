"""The golden on every backend: built once, reused, rebuilt when it cannot be trusted, never half-made."""

import traceback

import sqlalchemy as sa
from sqlalchemy.engine import make_url

import dbtestkit
from tests.backends import for_each_backend
from tests.backends.sides import run_sql
from tests.support import DEFAULT_REVISIONS, write_project, write_revision

HEAD = "0004"
SEEDED_AUTHOR = "Ursula K. Le Guin"
BROKEN_STEP = ("0003", "broken step", 'op.execute("THIS IS NOT SQL")', "pass")


def full_text(error):
    """The message of ``error`` with everything chained to it, as a traceback shows it."""
    return "".join(traceback.format_exception(type(error), error, error.__traceback__))


class GoldenChecks:
    """Assertions on what a clone of a golden holds."""

    def assertAtHead(self, database, head=HEAD):
        with database.clone() as clone:
            self.assertEqual(run_sql(clone.url, "SELECT version_num FROM alembic_version"), [(head,)])
            self.assertEqual(run_sql(clone.url, "SELECT name FROM author"), [(SEEDED_AUTHOR,)])
            self.assertLessEqual({"author", "book", "alembic_version"}, set(self.side.tables(clone.url)))
            self.assertNotIn("planted", self.side.tables(clone.url))
        database.close()  # drops the clones a pool made ahead

    def assertOnlyTheGolden(self, fingerprint):
        self.assertEqual(self.side.leftovers(fingerprint), [])
        self.assertTrue(self.side.has_golden(fingerprint))


@for_each_backend()
class GoldenBuildAndReuse(GoldenChecks):
    """The golden is built once, reused by every later instance, and rebuilt when it cannot be trusted"""

    def test_built_once_then_reused_by_another_instance(self):
        first = self.make_database().ensure_golden()
        self.assertTrue(first.built)
        second = self.make_database().ensure_golden()
        self.assertFalse(second.built)
        self.assertEqual((second.fingerprint, second.url), (first.fingerprint, first.url))
        self.assertEqual(first.fingerprint, self.make_database().fingerprint())
        self.assertOnlyTheGolden(first.fingerprint)

    def test_a_clone_holds_the_golden_at_head_with_the_rows_of_its_data_migrations(self):
        self.assertAtHead(self.make_database())

    def assertRebuiltAfter(self, tamper):
        golden = self.make_database().ensure_golden()
        tamper(golden)
        again = self.make_database()
        self.assertTrue(again.ensure_golden().built)
        self.assertAtHead(again)
        self.assertFalse(self.make_database().ensure_golden().built)
        self.assertOnlyTheGolden(golden.fingerprint)

    def test_golden_recording_another_fingerprint_is_rebuilt(self):
        self.assertRebuiltAfter(self.side.tamper_record)

    def test_golden_changed_behind_dbtestkits_back_is_rebuilt(self):
        self.assertRebuiltAfter(self.side.tamper_golden)

    def test_failing_migration_names_the_revision_and_leaves_nothing(self):
        root = self.tmp / "broken"
        ini = write_project(root, [*DEFAULT_REVISIONS[:2], BROKEN_STEP], self.env_py)
        database = self.make_database(alembic_ini=ini)
        with self.assertRaises(dbtestkit.MigrationError) as caught:
            database.ensure_golden()
        error = caught.exception
        self.assertEqual(error.revision, "0003")
        self.assertIn(str(root / "migrations" / "versions" / "0003_broken_step.py"), str(error))
        self.assertIsInstance(error.__cause__, sa.exc.DBAPIError)
        self.assertIn("THIS IS NOT SQL", str(error.__cause__))
        self.assertEqual(self.side.leftovers(database.fingerprint()), [])
        self.assertFalse(self.side.has_golden(database.fingerprint()))

        write_revision(root / "migrations" / "versions", "0003", "broken step",
                       'op.execute("INSERT INTO author (name) VALUES (\'Fixed\')")', "pass", "0002")
        fixed = self.make_database(alembic_ini=ini)
        self.assertTrue(fixed.ensure_golden().built)
        with fixed.clone() as clone:
            self.assertEqual(run_sql(clone.url, "SELECT name FROM author"), [("Fixed",)])


@for_each_backend("postgresql", "mysql")
class GoldenOnAServer(GoldenChecks):
    """On a server: its own fingerprint, nothing in the URL's database, other accounts' goldens refused"""

    def test_the_fingerprint_is_not_sqlites(self):
        database = self.make_database()
        self.assertNotEqual(database.fingerprint(), self.database(url="sqlite://").fingerprint())
        self.assertTrue(database.backend.identity().startswith(("postgresql ", "mariadb ", "mysql ")))

    def test_the_database_named_in_the_url_gets_no_tables(self):
        if self.backend == "postgresql":
            # The server's own database: PostgreSQL's advisory locks (the build lock) are
            # per database, so a build through another one is not safe from other runs yet.
            url = self.side.url
        else:
            own = f"dbtestkit_test_url_{self.token[:12]}"
            self.side.plant(self.side.url, own, rows=False)
            self.addCleanup(self.side.drop, own)
            url = self.side.url_of(own)
        before = self.side.tables(url)
        database = self.make_database(url=url)
        self.assertTrue(database.ensure_golden().built)
        with database.clone() as clone, clone.engine.begin() as connection:
            connection.execute(sa.text("INSERT INTO author (name) VALUES ('in the clone')"))
            connection.execute(sa.text("CREATE TABLE scratch (id INTEGER)"))
        self.assertEqual(self.side.tables(url), before)
        self.assertNotIn("alembic_version", before)

    def test_a_golden_another_account_built_is_refused_kept_and_explained_without_passwords(self):
        fingerprint = self.make_database().fingerprint()
        ini = write_project(self.tmp / "admins", DEFAULT_REVISIONS, self.env_py + "# the admin's\n")
        admins = self.make_database(alembic_ini=ini)
        url = self.side.account(self, [fingerprint, admins.fingerprint()])
        password = make_url(url).password
        other = self.make_database(url=url)
        golden = other.ensure_golden()
        self.assertTrue(golden.built)
        name = make_url(golden.url).database
        with self.assertRaises(dbtestkit.DbtestkitError) as caught:
            self.make_database().ensure_golden()
        self.assertIn(name, str(caught.exception))
        self.assertIn(make_url(url).username, str(caught.exception), "the message names no owner")
        self.assertTrue(self.side.exists(name), "dbtestkit dropped a golden it did not make")
        self.assertFalse(other.ensure_golden().built, "the other account's golden was touched")
        # And the other way round: the admin's golden, refused to the account, password-free.
        admins_golden = admins.ensure_golden()
        with self.assertRaises(dbtestkit.DbtestkitError) as caught:
            self.make_database(url=url, alembic_ini=ini).ensure_golden()
        self.assertIn(make_url(admins_golden.url).database, str(caught.exception))
        self.assertNotIn(password, full_text(caught.exception))
        self.assertTrue(self.side.has_golden(admins_golden.fingerprint))

    def test_a_failing_migration_of_an_account_with_a_password_never_shows_it(self):
        ini = write_project(self.tmp / "broken", [*DEFAULT_REVISIONS[:2], BROKEN_STEP], self.env_py)
        fingerprint = self.make_database(alembic_ini=ini).fingerprint()
        url = self.side.account(self, [fingerprint])
        with self.assertRaises(dbtestkit.MigrationError) as caught:
            self.make_database(url=url, alembic_ini=ini).ensure_golden()
        self.assertNotIn(make_url(url).password, full_text(caught.exception))
        self.assertEqual(self.side.leftovers(fingerprint), [])
