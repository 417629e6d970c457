"""A data migration tested on its own: stop before it, insert rows, run it, read what it did."""

import sqlalchemy as sa

import dbtestkit

from .database import DB


class SortNameBackfillTests(dbtestkit.MigrationTestCase):
    database = DB
    checks = []  # only the tests below; the history checks are not repeated here

    def test_backfill_fills_in_existing_authors(self):
        self.migrate_up_to("0003")
        self.insert_into("authors", [{"name": "Frank Herbert"}, {"name": "Homer"}])
        self.migrate_up_one()  # 0004_backfill_author_sort_name
        rows = self.connection.execute(sa.text("SELECT name, sort_name FROM authors ORDER BY name"))
        self.assertEqual(rows.all(), [("Frank Herbert", "Herbert, Frank"), ("Homer", "Homer")])

    def test_downgrade_drops_the_column(self):
        self.migrate_up_to("0004")
        self.migrate_down_one()
        columns = [column["name"] for column in sa.inspect(self.connection).get_columns("authors")]
        self.assertNotIn("sort_name", columns)
