"""``TestDatabase.discard_golden()`` and ``stop_pooling()``: what benchmarks measuring cold builds and bare clones use."""

import threading

from tests.backends import for_each_backend


@for_each_backend()
class DiscardGolden:
    """discard_golden() deletes the golden of the current fingerprint, and says whether there was one."""

    def golden_parts(self, fingerprint):
        # SQLite's lock file stays: it is what serialises builds, not the golden.
        return [a for a in self.side.artifacts(fingerprint)
                if self.side.is_golden(fingerprint, a) and not a.endswith(".lock")]

    def test_discard_deletes_the_golden_and_the_next_use_builds_it_again(self):
        database = self.make_database()
        fingerprint = database.ensure_golden().fingerprint
        self.assertTrue(self.golden_parts(fingerprint))
        self.assertTrue(database.discard_golden())
        self.assertEqual(self.golden_parts(fingerprint), [])
        self.assertFalse(database.discard_golden())
        self.assertTrue(self.make_database().ensure_golden().built)
        with database.clone() as clone, clone.engine.connect() as connection:
            self.assertEqual(connection.exec_driver_sql("SELECT count(*) FROM author").scalar(), 1)

    def test_discard_without_a_golden_returns_false(self):
        self.assertFalse(self.make_database().discard_golden())


@for_each_backend("postgresql", "mysql")
class StopPooling:
    """After stop_pooling() every clone is made when asked, in the caller's thread: no pool, no worker."""

    def test_clones_are_made_in_the_callers_thread_without_a_pool(self):
        database = self.make_database()
        database.ensure_golden()
        database.stop_pooling()
        before = {thread.name for thread in threading.enumerate()}
        with database.clone() as clone, clone.engine.connect() as connection:
            self.assertEqual(connection.exec_driver_sql("SELECT count(*) FROM author").scalar(), 1)
        self.assertEqual(database.pool_status(), [])
        started = {thread.name for thread in threading.enumerate()} - before
        self.assertFalse({name for name in started if "clone-pool" in name}, started)
        self.assertEqual(self.side.leftovers(database.fingerprint()), [])

    def test_without_stop_pooling_the_servers_pool_their_clones(self):
        database = self.make_database()
        with database.clone():
            pass
        self.assertEqual(len(database.pool_status()), 1)
