"""The test body every benchmark row runs (SELECT count(*), one INSERT, commit), and dbtestkit's savepoint row around it."""
import time

import sqlalchemy as sa
from sqlalchemy.orm import Session

from harness import Strategy


class Body:
    """The test body of every benchmark row: SELECT count(*), one INSERT, commit.

    The count must equal the golden's in every test, so a strategy that
    leaks fails the run instead of posting a fast time; ``sleep`` simulates
    a longer test after the commit.
    """

    def __init__(self, table, expected_rows, sleep=0.0):
        self.table, self.expected_rows, self.sleep = table, expected_rows, sleep
        self.select = sa.text("SELECT count(*) FROM %s" % table)
        self.insert = sa.text("INSERT INTO %s (name, label, amount, created_on) "
                              "VALUES (:name, :label, :amount, :created_on)" % table)
        self.params = {"name": "bench", "label": "b", "amount": 1.5, "created_on": "2024-02-01"}

    def with_sleep(self, seconds):
        """The same body, sleeping ``seconds`` after its commit."""
        return Body(self.table, self.expected_rows, seconds)

    def check(self, connection, what="isolation"):
        """Fail if ``connection`` does not see exactly the golden's rows."""
        rows = connection.execute(self.select).scalar_one()
        if rows != self.expected_rows:
            raise AssertionError("%s leaked: %d rows in %s, the golden has %d"
                                 % (what, rows, self.table, self.expected_rows))

    def __call__(self, session):
        """Run the body in ``session``, committing like application code."""
        self.check(session)
        session.execute(self.insert, self.params)
        session.commit()
        if self.sleep:
            time.sleep(self.sleep)

    def on_engine(self, engine):
        """Run the body in a new Session on ``engine``."""
        with Session(engine) as session:
            self(session)


class DbtestkitSavepoint(Strategy):
    """DatabaseTestCase's isolation without unittest's overhead: class_scope().open(), per test begin_test() … end()."""

    key, floor = "dbtk_savepoint", "recipe"

    def setup(self):
        # What DatabaseTestCase.setUpClass does: a class-wide connection and
        # outer transaction on a clone (ctx.db), with (empty) class data.
        self.scope = self.ctx.db.class_scope()
        self.scope.open()

    def test(self, n):
        test = self.scope.begin_test()
        self.ctx.body(test.session)
        test.end()

    def close(self):
        self.ctx.body.check(self.scope.outer.connection, self.label)
        self.scope.close()
