"""GoldenFileTestCase: each test gets its own clone of the golden."""

import unittest

from sqlalchemy.orm import Session

from dbtestkit.report import report
from dbtestkit.testcases.app_sessions import AppSessions
from dbtestkit.testcases.attributes import (
    Deferred, SetInSetUp, database_of, open_for_class, setup_class_skipped,
)


class KeepsFailedClones:
    """Drops a test's clones after it ran, or keeps them (``DBTESTKIT_KEEP``) when it failed.

    Mixed into the clone-per-test classes, sync and async; ``setUp`` appends
    ``(database, clone)`` to ``self._dbtestkit_clones`` and registers
    ``_release_clones_unless_run_decides`` as a cleanup.
    """

    def run(self, result=None):
        # Whether a test failed is only known for sure once run() has reported
        # it (Python 3.9 and 3.10 report after the cleanups), so the
        # keep-or-drop decision waits until then.
        self._dbtestkit_clones = []
        watch = _FailureWatch(result) if result is not None else None
        self._dbtestkit_watch = watch
        try:
            return super().run(watch)
        finally:
            self._dbtestkit_watch = None
            self._release_clones(failed=watch is not None and watch.failed)

    def _release_clones_unless_run_decides(self):
        if getattr(self, "_dbtestkit_watch", None) is None:
            # Run through debug() or without a result: no verdict will come.
            self._release_clones(failed=False)

    def _release_clones(self, failed):
        clones, self._dbtestkit_clones = getattr(self, "_dbtestkit_clones", []), []
        for database, clone in clones:
            if failed and database.keep:
                location = clone.keep(self.id())
                report(f"kept the clone of failed test {self.id()} at {location}")
            else:
                clone.drop()


class GoldenFileTestCase(KeepsFailedClones, AppSessions, unittest.TestCase):
    """Each test gets its own clone of the golden: commit for real, run DDL, open engines.

    Per test: ``self.url``, ``self.engine``, ``self.session``. Set
    ``clone_kind = "shared"`` when another process must open ``self.url``.
    Rows that ``setUpTestData`` commits are loaded once per class, into a
    snapshot each test gets a copy of. With ``DBTESTKIT_KEEP=1`` the clone of
    a failed test is kept and its path printed.
    ``self.bind_sessionmaker(SessionLocal)`` points the app's own sessions at the clone.
    """

    database = None
    clone_kind = None
    url = SetInSetUp()
    engine = SetInSetUp()
    session = SetInSetUp()

    @classmethod
    def setUpTestData(cls, connection):
        """Override to load rows once per class: committed into a class snapshot, copied for each test."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls._dbtestkit_snapshot = None
        if _has_class_data(cls):
            # One copy per test: no more are made ahead (a run of a few tests may take fewer).
            expected = len(unittest.defaultTestLoader.getTestCaseNames(cls))
            snapshot = database_of(cls).snapshot(cls.setUpTestData, expected)
            open_for_class(cls, snapshot)
            cls._dbtestkit_snapshot = snapshot

    def setUp(self):
        super().setUp()
        cls = type(self)
        database = database_of(cls)
        if not _has_class_data(cls):
            clone = database.clone(kind=self.clone_kind)
        elif cls.__dict__.get("_dbtestkit_snapshot") is not None:
            clone = cls._dbtestkit_snapshot.clone(kind=self.clone_kind)
        else:
            raise setup_class_skipped(cls, "GoldenFileTestCase loads setUpTestData's rows there.")
        self.__dict__.setdefault("_dbtestkit_clones", []).append((database, clone))
        self.addCleanup(self._release_clones_unless_run_decides)
        # Read on first use: a SQLite clone is made reachable by URL only if a test needs it.
        self.url = Deferred(clone.share)
        self.engine = clone.engine
        self.session = self._make_session()
        self.addCleanup(self.session.close)

    def _make_session(self):
        return Session(bind=self.engine)

    def _dbtestkit_app_bind(self):
        return self.engine, False


def _has_class_data(cls):
    return cls.setUpTestData.__func__ is not GoldenFileTestCase.setUpTestData.__func__


class _FailureWatch:
    """Passes a test's results on to the real result, noting whether it failed."""

    def __init__(self, result):
        self._result = result
        self.failed = False

    def addError(self, test, err):
        self.failed = True
        self._result.addError(test, err)

    def addFailure(self, test, err):
        self.failed = True
        self._result.addFailure(test, err)

    def addUnexpectedSuccess(self, test):
        self.failed = True
        self._result.addUnexpectedSuccess(test)

    def addSubTest(self, test, subtest, err):
        if err is not None:
            self.failed = True
        if hasattr(self._result, "addSubTest"):
            self._result.addSubTest(test, subtest, err)
        elif err is not None:
            is_failure = issubclass(err[0], test.failureException)
            (self._result.addFailure if is_failure else self._result.addError)(subtest, err)

    def __getattr__(self, name):
        return getattr(self._result, name)
