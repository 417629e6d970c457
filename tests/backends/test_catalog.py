"""dbtestkit's catalog on MariaDB: created when missing, recreated when dropped, refused when foreign.

Each test points its backends at a catalog database of its own, so that
dropping or breaking it cannot disturb other runs on the shared server.
"""

import secrets

import dbtestkit
from dbtestkit.backends.mysql_catalog import Catalog
from tests.backends import for_each_backend
from tests.backends.sides import run_sql


@for_each_backend("mysql")
class CatalogCases:
    """The catalog is created when missing, recreated when dropped, and refused when not ours"""

    def setUp(self):
        super().setUp()
        self.catalog = f"dbtk_catalog_t_{secrets.token_hex(6)}"
        self.addCleanup(run_sql, self.side.url, f"DROP DATABASE IF EXISTS `{self.catalog}`")

    def on_own_catalog(self, database):
        database.backend.catalog = Catalog(database.backend.describe, name=self.catalog)
        return database

    def entries(self):
        return run_sql(self.side.url, f"SELECT name, kind, owner = CURRENT_USER() FROM "
                                      f"`{self.catalog}`.entries ORDER BY name")

    def catalog_exists(self):
        return self.side.exists(self.catalog)

    def test_a_missing_catalog_is_created_by_the_first_build_which_it_records(self):
        self.assertFalse(self.catalog_exists())
        database = self.on_own_catalog(self.make_database())
        golden = database.ensure_golden()
        self.assertTrue(golden.built)
        name = database.backend.golden_name(golden.fingerprint)
        self.assertEqual(self.entries(), [(name, "golden", 1)])
        self.assertFalse(self.on_own_catalog(self.make_database()).ensure_golden().built)

    def test_after_the_catalog_is_dropped_its_goldens_are_refused_and_new_records_recreate_it(self):
        database = self.on_own_catalog(self.make_database())
        golden = database.ensure_golden()
        database.backend.reap_once()  # its catalog is known to exist from here on
        name = database.backend.golden_name(golden.fingerprint)
        run_sql(self.side.url, f"DROP DATABASE `{self.catalog}`")

        again = self.on_own_catalog(self.make_database())
        with self.assertRaises(dbtestkit.DbtestkitError) as caught:
            again.ensure_golden()
        self.assertIn(name, str(caught.exception))
        self.assertIn("drop it yourself", str(caught.exception))
        self.assertTrue(self.side.exists(name), "a golden nobody can prove was dropped")
        # The next record a running process writes brings the catalog back (a clone's intent).
        with database.backend.clone(golden.fingerprint, "database") as clone:
            self.assertEqual(self.entries(), [(clone.name, "clone", 1)])
        self.assertEqual(self.entries(), [])

    def test_a_table_of_that_name_that_is_not_the_catalog_is_refused_and_left_alone(self):
        run_sql(self.side.url, f"CREATE DATABASE `{self.catalog}`")
        run_sql(self.side.url, f"CREATE TABLE `{self.catalog}`.entries (id INTEGER, note TEXT)")
        run_sql(self.side.url, f"INSERT INTO `{self.catalog}`.entries VALUES (1, 'mine')")
        database = self.on_own_catalog(self.make_database())
        with self.assertRaises(dbtestkit.DbtestkitError) as caught:
            database.ensure_golden()
        message = str(caught.exception)
        self.assertIn(f"{self.catalog}.entries", message)
        self.assertIn("is not dbtestkit's catalog", message)
        self.assertIn("rename or drop that table", message)
        self.assertEqual(run_sql(self.side.url, f"SELECT id, note FROM `{self.catalog}`.entries"),
                         [(1, "mine")])
        self.assertEqual(self.side.artifacts(database.fingerprint()), [])

    def test_a_user_who_may_not_use_the_catalog_is_told_which_grant_to_ask_for(self):
        fingerprint = self.make_database().fingerprint()
        url = self.side.account(self, [fingerprint])  # privileges on its databases, not this catalog
        database = self.on_own_catalog(self.make_database(url=url))
        with self.assertRaises(dbtestkit.DbtestkitError) as caught:
            database.ensure_golden()
        message = str(caught.exception)
        self.assertIn(f"GRANT CREATE, SELECT, INSERT, UPDATE, DELETE ON {self.catalog}.* TO", message)
        self.assertNotIn(url.split("@")[0].rpartition(":")[2], message, "the password was shown")
        self.assertEqual(self.side.artifacts(fingerprint), [])
