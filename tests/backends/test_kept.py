"""Keep on failure, properly: unique kept clones, listed with their test ids, deleted only if ours."""

import time
import unittest

from sqlalchemy import text
from sqlalchemy.engine import make_url

import dbtestkit
from dbtestkit.backends.records import KeptClone
from tests.backends import for_each_backend
from tests.backends.sides import run_sql

# Longer than any server's identifier: only the record can tell the two tests apart.
SHARED = "test_" + "a_name_that_goes_on_and_on_" * 3


def failing_case(database):
    """Return a GoldenFileTestCase whose two tests write a row each, then fail."""

    class Failing(dbtestkit.GoldenFileTestCase):
        pass

    Failing.database = database
    for suffix in ("one", "two"):
        def test(self, suffix=suffix):
            self.session.execute(text("INSERT INTO author (name) VALUES (:n)"), {"n": suffix})
            self.session.commit()
            self.fail(f"deliberately, leaving {suffix}")

        setattr(Failing, f"{SHARED}{suffix}", test)
    return Failing


@for_each_backend("postgresql", "mysql")
class KeptClones:
    """Kept clones: unique, listed with test id and age, deleted only when they are ours"""

    def setUp(self):
        super().setUp()
        fingerprint = self.make_database().fingerprint()
        self.account = self.side.account(self, [fingerprint])
        self.db = self.make_database(url=self.account, keep=True)

    def url_of(self, kept):
        """The kept clone's URL with the account's password (``location`` has it masked)."""
        name = make_url(kept.location).database
        return make_url(self.account).set(database=name).render_as_string(hide_password=False)

    def test_two_failing_tests_sharing_their_first_63_characters_are_both_kept_and_listed(self):
        case = failing_case(self.db)
        result = unittest.TestResult()
        started = time.time()
        unittest.defaultTestLoader.loadTestsFromTestCase(case).run(result)
        self.assertEqual(result.errors, [])
        self.assertEqual(len(result.failures), 2)
        ids = sorted(test.id() for test, _ in result.failures)
        self.assertEqual(ids[0][:63], ids[1][:63])

        kept = sorted(self.db.backend.list_kept(), key=lambda k: k.test_id)
        self.assertEqual([k.test_id for k in kept], ids)
        self.assertEqual(len({k.location for k in kept}), 2)
        for item, suffix in zip(kept, ("one", "two")):
            self.assertIsInstance(item, KeptClone)
            self.assertEqual(item.label, self.db.name)
            self.assertLessEqual(started - 1, item.kept_at)
            self.assertLessEqual(item.kept_at, time.time())
            self.assertNotIn(make_url(self.account).password, item.location)
            names = [row[0] for row in run_sql(self.url_of(item), "SELECT name FROM author")]
            self.assertIn(suffix, names, "the kept clone is not the failed test's")

        for item in kept:
            self.db.backend.delete_kept(item)
            self.assertFalse(self.side.exists(make_url(item.location).database))
        self.assertEqual(list(self.db.backend.list_kept()), [])
        self.db.close()  # drops the clones the pool made ahead
        self.assertEqual(self.side.leftovers(self.db.fingerprint(), self.cache_dir), [])

    def test_delete_kept_refuses_a_live_clone_and_a_database_dbtestkit_did_not_make(self):
        golden = self.db.ensure_golden()
        clone = self.db.backend.clone(golden.fingerprint, "database")
        self.addCleanup(clone.drop)
        planted = f"dbtk_clone_{golden.fingerprint[:12]}_planted_1_abcdef"
        self.side.plant(self.account if self.backend == "postgresql" else self.side.url, planted)
        for name in (clone.name, planted):
            with self.subTest(name=name):
                location = make_url(self.account).set(database=name).render_as_string()
                with self.assertRaises(dbtestkit.DbtestkitError) as caught:
                    self.db.backend.delete_kept(KeptClone(location, "some.test", 0.0, ""))
                self.assertIn(name, str(caught.exception))
                self.assertTrue(self.side.exists(name))
