"""Backends: one module per database, chosen from the URL's backend name."""

import importlib

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

from dbtestkit.backends import drivers
from dbtestkit.config import mask_url
from dbtestkit.exceptions import BackendUnavailable, ConfigurationError
from dbtestkit.report import report, verbose

# The one table that maps a SQLAlchemy backend name to the module serving it.
# Each module is imported on first use: a suite on SQLite never loads the
# server backends, nor the drivers they check for.
BACKEND_MODULES = {
    "sqlite": "dbtestkit.backends.sqlite",
    "postgresql": "dbtestkit.backends.postgresql",
    "mysql": "dbtestkit.backends.mysql",
    "mariadb": "dbtestkit.backends.mysql",
}
# The URL of the embedded PostgreSQL cluster (backends/embedded_cluster.py).
EMBEDDED_DRIVERNAME = "postgresql+embedded"


def backend_for(url, cache_dir, origin="the URL"):
    """Return the backend object serving ``url``, with goldens and clones kept in ``cache_dir``.

    ``origin`` says where the URL was set (``--url``, ``DBTESTKIT_URL``, …), for messages.
    """
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        # Not echoed: an unparseable URL may still hold a password.
        raise ConfigurationError(
            f"The URL from {origin} is not a database URL SQLAlchemy can parse (it is not "
            "shown, as it may hold a password); write it as "
            "dialect+driver://user:password@host:port/database, e.g. sqlite:// or "
            "postgresql+psycopg://postgres@127.0.0.1/postgres."
        ) from None
    cluster = None
    if parsed.drivername == EMBEDDED_DRIVERNAME:
        # A way to get a server, not a backend: the cluster starts (once per
        # user) and the PostgreSQL backend gets a URL over its unix socket.
        from dbtestkit.backends import embedded_cluster, embedded_watch

        cluster = embedded_cluster.cluster_for(parsed, origin)
        started = embedded_watch.serve(cluster)
        if started is not None:
            report(f"started the {cluster.describe()} in {started:.2f}s")
        elif verbose():
            report(f"using the {cluster.describe()}")
        parsed = embedded_cluster.server_url(parsed, cluster)
    where = f"URL {mask_url(url)}, from {origin}"
    module_name = BACKEND_MODULES.get(parsed.get_backend_name())
    if module_name is None:
        raise ConfigurationError(
            f"dbtestkit does not support {parsed.get_backend_name()!r} databases "
            f"({where}); supported: {sorted(BACKEND_MODULES)}."
        )
    async_drivername = None
    # The standard library's sqlite3 is sync and always there: checking it
    # would import SQLAlchemy's SQLite dialect, milliseconds of a warm start.
    if parsed.drivername not in ("sqlite", "sqlite+pysqlite"):
        _check_dialect(parsed, where)
        # An async URL: goldens are built and cloned through a sync driver of the
        # same database; async test cases and an async env.py get the async one.
        # Otherwise the default async driver is looked up on first async use only.
        async_drivername = parsed.drivername if drivers.is_async(parsed) else None
        if async_drivername:
            drivers.check_async_driver(async_drivername)
        parsed = drivers.sync_url(parsed, where)
        _check_driver(parsed, where)
    backend = importlib.import_module(module_name).Backend(parsed, cache_dir)
    backend.url_origin = origin
    backend.cluster = cluster
    backend.async_drivername = async_drivername
    return backend


def _check_dialect(parsed, where):
    try:
        dialect = parsed.get_dialect()
    except NoSuchModuleError as error:
        raise ConfigurationError(
            f"SQLAlchemy has no driver {parsed.drivername!r} ({where}); "
            "check the spelling of dialect+driver in the URL."
        ) from error
    if getattr(dialect, "is_async", False) and not drivers.is_async(parsed):
        known = sorted(f"{b}+{d}" for b, d in drivers.SYNC_FOR_ASYNC)
        raise ConfigurationError(
            f"dbtestkit does not know the async driver {parsed.drivername!r} ({where}), so it "
            f"cannot tell which sync driver builds its goldens; use one of {known}, or a sync "
            "driver."
        )


def _check_driver(parsed, where):
    dialect = parsed.get_dialect()
    try:
        dialect.import_dbapi()
    except ImportError as error:
        raise BackendUnavailable(
            f"The {parsed.get_driver_name()!r} driver is not installed ({where}): {error}. "
            f"Install it (pip install {error.name or parsed.get_driver_name()}) "
            "or choose another driver in the URL."
        ) from error
