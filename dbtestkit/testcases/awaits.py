"""What the async test cases share: failing a test that forgot ``await``, and the hint about ``asyncSetUp``."""

import unittest

from dbtestkit.async_isolation import MissingAwaits
from dbtestkit.exceptions import DbtestkitError


class MissingAwait(DbtestkitError):
    """A test called a coroutine function without awaiting it."""


class AwaitCheckedTestCase(unittest.IsolatedAsyncioTestCase):
    """An ``IsolatedAsyncioTestCase`` whose tests fail when they leave a coroutine un-awaited."""

    # Named when a per-test attribute is read before asyncSetUp set it.
    _dbtestkit_setup_hook = ("asyncSetUp", "await super().asyncSetUp()")

    def run(self, result=None):
        if result is None:
            return super().run(result)
        watch = _AwaitWatch(result, self)
        with watch.awaits:
            return super().run(watch)


class _AwaitWatch:
    """Passes a test's results on, turning a success into an error when a coroutine was never awaited."""

    def __init__(self, result, test):
        self._result = result
        self._test = test
        self.awaits = MissingAwaits()

    def addSuccess(self, test):
        if test is self._test and self.awaits.found:
            error = MissingAwait(self.awaits.message(test.id()))
            self._result.addError(test, (MissingAwait, error, None))
            return
        self._result.addSuccess(test)

    def __getattr__(self, name):
        return getattr(self._result, name)
