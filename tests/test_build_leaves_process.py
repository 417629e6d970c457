"""A golden build leaves the test process as it found it, so a cold run and a warm run agree.

On a cold run env.py (here as `alembic init` writes it, with fileConfig()), the
migrations, seeds and before_migrations steps run inside the test process; on a
warm run none of them do. Whatever they change must not outlive the build.
"""

import contextlib
import gc
import io
import logging
import logging.handlers
import os
import re
import sys
import textwrap
import unittest
import warnings
from pathlib import Path

from dbtestkit.golden.journal import read_journal
from tests.backend_projects import BackendProjectCase
from tests.support import STOCK_ALEMBIC_INI, STOCK_ENV_PY, run_python

# Prepended to the stock env.py: everything a careless env.py may do to the process.
MEDDLING = textwrap.dedent("""\
    import io, logging, os, sys, warnings
    warnings.simplefilter("ignore")
    logging.captureWarnings(True)
    logging.getLogger("myapp.service").setLevel(logging.CRITICAL)
    logging.getLogger("myapp.service").handlers = []
    sys.path.insert(0, "/nowhere/env-py")
    os.environ["MYAPP_PHASE"] = "migrating"
    os.environ.pop("MYAPP_MODE", None)
    os.chdir(os.path.dirname(os.path.abspath(__file__)))
    sys.stdout = io.StringIO()
""")


def meddling_step(connection):
    """A before_migrations step that reconfigures logging and warnings."""
    logging.getLogger("myapp.quiet").disabled = False
    warnings.filterwarnings("error", category=UserWarning)


def meddling_seed(connection):
    """A seed that configures logging as a script would."""
    logging.basicConfig(level=logging.DEBUG, stream=io.StringIO(), force=True)
    logging.getLogger("myapp.service").propagate = True


def logger_states():
    """Return every logger's (level, handlers, propagate, filters, disabled), the root as ''."""
    loggers = {"": logging.getLogger()}
    loggers.update((name, logger) for name, logger in logging.Logger.manager.loggerDict.items()
                   if isinstance(logger, logging.Logger))
    return {name: (logger.level, list(logger.handlers), logger.propagate, list(logger.filters),
                   logger.disabled) for name, logger in loggers.items()}


def put_back_loggers(states):
    """Restore the loggers noted by ``logger_states()`` (so a failing test spoils nothing)."""
    loggers = {"": logging.getLogger(), **{n: l for n, l in logging.Logger.manager.loggerDict.items()
                                           if isinstance(l, logging.Logger)}}
    for name, (level, handlers, propagate, filters, disabled) in states.items():
        logger = loggers[name]
        logger.handlers[:], logger.filters[:] = handlers, filters
        logger.setLevel(level)
        logger.propagate, logger.disabled = propagate, disabled


def open_files_named(path):
    """Return this process's file descriptors open on ``path`` (Linux: /proc/self/fd)."""
    fds = Path("/proc/self/fd")
    if not fds.is_dir():
        raise unittest.SkipTest("needs /proc/self/fd to see which files are open")
    found = []
    for fd in fds.iterdir():
        with contextlib.suppress(OSError):
            if os.readlink(fd) == str(path):
                found.append(fd.name)
    return found


class KeepOnly(logging.Filter):
    def filter(self, record):
        return "secret" not in record.getMessage()


class StockProjectCase(BackendProjectCase):
    """A project with the stock alembic.ini and env.py; the process is put back after each test."""

    base_env_py = STOCK_ENV_PY

    def setUp(self):
        super().setUp()
        self.ini.write_text(STOCK_ALEMBIC_INI)
        self.addCleanup(put_back_loggers, logger_states())
        self.addCleanup(logging.disable, logging.root.manager.disable)
        catcher = warnings.catch_warnings()
        catcher.__enter__()
        self.addCleanup(catcher.__exit__, None, None, None)
        self.addCleanup(setattr, sys, "path", sys.path[:])
        self.addCleanup(os.chdir, os.getcwd())
        environ = dict(os.environ)
        self.addCleanup(lambda: (os.environ.clear(), os.environ.update(environ)))
        self.addCleanup(setattr, sys, "stdout", sys.stdout)
        self.addCleanup(setattr, sys, "stderr", sys.stderr)


class ProcessStateTests(StockProjectCase):
    def configure_app_logging(self):
        """Set up logging as a test process might before the build; return the records list."""
        records = []
        handler = logging.Handler()
        handler.emit = records.append
        app = logging.getLogger("myapp.service")
        app.setLevel(logging.DEBUG)
        app.addHandler(handler)
        app.addFilter(KeepOnly())
        app.propagate = False
        logging.getLogger("myapp.quiet").disabled = True
        logging.getLogger().setLevel(logging.ERROR)
        return records

    def test_every_logger_is_as_before_the_build(self):
        self.configure_app_logging()
        before = logger_states()
        self.database().ensure_golden()
        after = logger_states()
        self.assertEqual({name: after[name] for name in before}, before)
        # Loggers the build made are as logging.getLogger() makes them, or as an import left them.
        new = {name: state for name, state in after.items() if name not in before}
        self.assertEqual([name for name, state in new.items() if state[4] or state[0]], [], new)

    def test_assert_logs_passes_after_a_cold_build(self):
        logging.getLogger("myapp.service")  # made when the application is imported
        self.database().ensure_golden()
        with self.assertLogs("myapp.service", "INFO") as logs:
            logging.getLogger("myapp.service").info("registered %s", "Dune")
        self.assertEqual(logs.output, ["INFO:myapp.service:registered Dune"])

    def test_the_process_handlers_stay_open(self):
        sink = io.StringIO()
        memory = logging.handlers.MemoryHandler(100, target=logging.StreamHandler(sink))
        log_file = self.tmp / "app.log"
        file_handler = logging.FileHandler(log_file, mode="w")
        self.addCleanup(file_handler.close)
        for handler in (memory, file_handler):
            logging.getLogger().addHandler(handler)
        self.database().ensure_golden()
        logging.getLogger("myapp").warning("after the build")
        memory.flush()
        file_handler.flush()
        self.assertEqual(sink.getvalue(), "after the build\n")
        self.assertEqual(log_file.read_text(), "after the build\n")
        self.assertIn(memory, logging.getLogger().handlers)

    def test_handlers_the_build_made_are_closed(self):
        log_file = self.tmp / "alembic.log"
        self.ini.write_text(STOCK_ALEMBIC_INI.replace("keys = console", "keys = console,file").replace(
            "handlers = console", "handlers = console,file") + textwrap.dedent(f"""
            [handler_file]
            class = FileHandler
            args = ({str(log_file)!r}, "w")
            level = NOTSET
            formatter = generic
        """))
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ResourceWarning)
            self.database().ensure_golden()
            gc.collect()
        self.assertTrue(log_file.exists(), "env.py's fileConfig() did not run")
        self.assertEqual(open_files_named(log_file), [])
        # Closed by dbtestkit, not left for the garbage collector to find open.
        self.assertEqual([str(w.message) for w in caught if str(log_file) in str(w.message)], [])

    def test_records_from_the_app_logger_are_filtered_and_handled_as_before(self):
        records = self.configure_app_logging()
        self.database().ensure_golden()
        app = logging.getLogger("myapp.service")
        app.debug("kept")
        app.debug("a secret")
        self.assertEqual([r.getMessage() for r in records], ["kept"])

    def test_warnings_path_cwd_environment_and_streams_are_put_back(self):
        (self.tmp / "project" / "migrations" / "env.py").write_text(MEDDLING + self.env_py)
        os.environ["MYAPP_MODE"] = "test"
        self.configure_app_logging()
        warnings.simplefilter("default")
        handler_list = logging.getLogger("myapp.service").handlers
        before = (list(warnings.filters), warnings.showwarning, sys.path[:], os.getcwd(),
                  dict(os.environ), sys.stdout, logger_states())
        self.database(seeds=[meddling_seed], before_migrations=[meddling_step]).ensure_golden()
        after = (list(warnings.filters), warnings.showwarning, sys.path[:], os.getcwd(),
                 dict(os.environ), sys.stdout, logger_states())
        for name, was, now in zip(("warnings.filters", "showwarning", "sys.path", "cwd",
                                   "os.environ", "sys.stdout", "loggers"), before, after):
            with self.subTest(name):
                self.assertEqual(now, was)
        # The list itself, not a copy: assertLogs() and pytest's caplog hold on to it.
        self.assertIs(logging.getLogger("myapp.service").handlers, handler_list)

    def test_alembic_lines_stay_out_of_the_output(self):
        output = io.StringIO()
        with contextlib.redirect_stderr(output):
            self.database().ensure_golden()
        self.assertNotIn("alembic", output.getvalue())

    def test_verbose_shows_alembic_lines(self):
        os.environ["DBTESTKIT_VERBOSE"] = "1"
        output = io.StringIO()
        with contextlib.redirect_stderr(output):
            self.database().ensure_golden()
        self.assertRegex(output.getvalue(), r"INFO  \[alembic\.runtime\.migration\] Running upgrade  -> 0001")
        self.assertEqual(logging.getLogger("alembic").level, logging.NOTSET)


class ProcessStateOnPostgreSQL(ProcessStateTests):
    backend = "postgresql"


class ProcessStateOnMariaDB(ProcessStateTests):
    backend = "mysql"


class MigrationChecksTests(StockProjectCase):
    """The checks run env.py (and its fileConfig()) once per walk: each walk puts the process back."""

    def test_checks_leave_logging_and_sys_path_as_they_were(self):
        from dbtestkit.testcases.migration import MigrationTestCase
        from tests.test_migration_checks import run_checks

        self.configure_app_logging()
        before, path = logger_states(), sys.path[:]
        checks = type("Migrations", (MigrationTestCase,), {
            "database": self.database(),
            "checks": ("upgrade", "up_down_consistency", "downgrade_leaves_no_trace"),
        })
        output = io.StringIO()
        with contextlib.redirect_stderr(output):
            outcomes = run_checks(checks)
        self.assertEqual({name: outcome for name, (outcome, _) in outcomes.items()}, {
            "single_head_revision": "skip", "model_definitions_match_ddl": "skip",
            "upgrade": "pass", "up_down_consistency": "pass", "downgrade_leaves_no_trace": "pass",
        }, outcomes)
        after = logger_states()
        self.assertEqual({name: after[name] for name in before}, before)
        self.assertEqual(sys.path, path)
        self.assertNotIn("alembic", output.getvalue())

    def test_every_run_of_env_py_sees_prepend_sys_path(self):
        from dbtestkit.testcases.migration import MigrationTestCase
        from tests.test_migration_checks import run_checks

        src = self.tmp / "project" / "src"
        src.mkdir()
        (src / "myapp_settings.py").write_text("SCHEMA = None\n")
        self.ini.write_text(STOCK_ALEMBIC_INI.replace("prepend_sys_path = .", "prepend_sys_path = %(here)s/src"))
        env_py = self.tmp / "project" / "migrations" / "env.py"
        # As in a fresh process: the settings module is imported anew by every run of env.py.
        env_py.write_text('import sys\nsys.modules.pop("myapp_settings", None)\nimport myapp_settings\n'
                          + env_py.read_text())
        path = sys.path[:]
        checks = type("Migrations", (MigrationTestCase,), {
            "database": self.database(), "checks": ("upgrade", "downgrade_leaves_no_trace")})
        outcomes = run_checks(checks)
        self.assertEqual([outcomes[name][0] for name in checks.checks], ["pass", "pass"], outcomes)
        self.assertEqual(sys.path, path)

    configure_app_logging = ProcessStateTests.configure_app_logging


class MigrationChecksOnPostgreSQL(MigrationChecksTests):
    backend = "postgresql"


class MigrationChecksOnMariaDB(MigrationChecksTests):
    backend = "mysql"


# A user's suite: its tests pass only if the build changed nothing they can see.
COLD_WARM_SUITE = '''\
import logging, os, sys, unittest, warnings

import dbtestkit

log = logging.getLogger("myapp.service")
DB = dbtestkit.TestDatabase(alembic_ini={ini!r})


def process_state():
    return list(sys.path), os.getcwd(), list(warnings.filters), dict(os.environ)


def setUpModule():
    # Not at import: the test runner sets its warnings filters after importing the module.
    global AT_START
    AT_START = process_state()


class Savepoints(dbtestkit.DatabaseTestCase):
    database = DB

    def test_service_logs(self):
        with self.assertLogs("myapp.service", "INFO") as logs:
            log.info("registered %s", "Dune")
        self.assertEqual(logs.output, ["INFO:myapp.service:registered Dune"])

    def test_process_is_as_before_the_build(self):
        self.assertEqual(process_state(), AT_START)


class Clones(dbtestkit.GoldenFileTestCase):
    database = DB

    def test_app_logger_is_enabled(self):
        self.assertFalse(log.disabled)

    def test_logging_is_not_configured(self):
        self.assertEqual(logging.getLogger().handlers, [])
        self.assertEqual(logging.getLogger("alembic").level, logging.NOTSET)

    def test_warning_logged_by_the_app_reaches_stderr(self):
        with self.assertLogs("myapp.service", "WARNING"):
            log.warning("low stock")
'''


class ColdWarmSuiteTests(StockProjectCase):
    """The same suite, run twice in fresh processes (cold, then warm), gives identical results."""

    def run_suite(self):
        run = run_python(["-m", "unittest", "-v", "test_cold_warm"], cwd=self.tmp, env=self.child_env())
        results = re.findall(r"^(test_\w+) \(.*\) \.\.\. (.*)$", run.stderr, re.MULTILINE)
        return run, sorted(results)

    def test_a_suite_gives_the_same_results_cold_and_warm(self):
        (self.tmp / "test_cold_warm.py").write_text(COLD_WARM_SUITE.format(ini=str(self.ini)))
        self.database()  # for the cleanup: the children build this project's golden
        cold, cold_results = self.run_suite()
        warm, warm_results = self.run_suite()
        self.assertEqual(len(read_journal(self.cache_dir)), 1, "the first run builds, the second reuses")
        self.assertEqual(len(cold_results), 5, cold.stderr)
        self.assertEqual(cold_results, warm_results, cold.stderr + warm.stderr)
        self.assertEqual([r for r in cold_results if r[1] != "ok"], [], cold.stderr)
        self.assertEqual((cold.returncode, warm.returncode), (0, 0), cold.stderr + warm.stderr)
        self.assertNotIn("INFO  [alembic", cold.stderr)


class ColdWarmSuiteOnPostgreSQL(ColdWarmSuiteTests):
    backend = "postgresql"


class ColdWarmSuiteOnMariaDB(ColdWarmSuiteTests):
    backend = "mysql"


if __name__ == "__main__":
    unittest.main()
