"""Bad server URLs on every server backend: a clear BackendUnavailable that says what to do, no password."""

import importlib.util
import traceback

import sqlalchemy as sa
from sqlalchemy.engine import make_url

import dbtestkit
from tests.backends import for_each_backend

# backend: (drivers to try, how the start advice reads, a driver that is not installed, its module)
SERVERS = {
    "postgresql": (("psycopg", "psycopg2"), "pg_ctlcluster", "pg8000", "pg8000"),
    "mysql": (("pymysql",), "mariadbd", "mysqldb", "MySQLdb"),
}


def full_text(error):
    """The message of ``error`` with everything chained to it, as a traceback shows it."""
    return "".join(traceback.format_exception(type(error), error, error.__traceback__))


# About the URLs of the servers themselves: not the embedded cluster's, which dbtestkit makes.
@for_each_backend("postgresql", "mysql", sides=("postgresql", "mysql"))
class BadServerInputs:
    """An unreachable server, an unknown account and a missing driver each get a clear, password-free error"""

    def setUp(self):
        super().setUp()
        self.drivers, self.start_hint, self.missing, self.missing_module = SERVERS[self.backend]

    def url(self, driver, **parts):
        return make_url(self.side.url).set(drivername=f"{self.backend}+{driver}", **parts)

    def unavailable(self, url):
        with self.assertRaises(dbtestkit.BackendUnavailable) as caught:
            self.make_database(url=url.render_as_string(hide_password=False)).ensure_golden()
        return caught.exception

    def test_unreachable_server_names_the_masked_url_and_how_to_start_it(self):
        for driver in self.drivers:
            with self.subTest(driver=driver):
                url = self.url(driver, host="127.0.0.1", port=1, password="s3cret-port1")
                error = self.unavailable(url)
                message = str(error)
                self.assertIn(url.render_as_string(hide_password=True), message)
                self.assertIn(":***@", message)
                self.assertIn(self.start_hint, message)
                self.assertIn("or fix TestDatabase(url=...)", message)
                self.assertIsInstance(error.__cause__, sa.exc.OperationalError)
                self.assertNotIn("s3cret-port1", full_text(error))

    def test_an_account_that_does_not_exist_is_named_with_the_masked_url(self):
        for driver in self.drivers:
            with self.subTest(driver=driver):
                user = f"nosuchuser_{self.token}"
                url = self.url(driver, username=user, password="s3cret-denied")
                error = self.unavailable(url)
                message = str(error)
                self.assertIn(url.render_as_string(hide_password=True), message)
                self.assertIn(user, message)
                self.assertIn("Check the user and password in the URL", message)
                self.assertNotIn("s3cret-denied", full_text(error))

    def test_missing_driver_is_backend_unavailable_with_pip_advice(self):
        if importlib.util.find_spec(self.missing_module) is not None:
            self.skipTest(f"{self.missing_module} is installed here, so it cannot stand in for a missing driver")
        url = self.url(self.missing, password="s3cret-driver").render_as_string(hide_password=False)
        with self.assertRaises(dbtestkit.BackendUnavailable) as caught:
            self.database(url=url)
        message = str(caught.exception)
        self.assertIn(f"pip install {self.missing}", message.lower())
        self.assertNotIn("s3cret-driver", full_text(caught.exception))
        self.assertIsInstance(caught.exception.__cause__, ImportError)
