"""A clone-per-test case that fails on purpose, run by the keep-on-failure tests."""

import sqlalchemy as sa

import dbtestkit
from tests.cases.savepoint_cases import book


class KeptOnFailure(dbtestkit.GoldenFileTestCase):
    """Run with a database whose keep=True; one test fails on purpose."""

    database = None  # set by the test that runs this class

    def test_fails_after_writing(self):
        self.session.execute(sa.insert(book).values(title="Evidence"))
        self.session.commit()
        self.fail("deliberate failure; the clone should be kept")

    def test_passes(self):
        self.session.execute(sa.insert(book).values(title="Not kept"))
        self.session.commit()
