"""Backends: one module per database, chosen from the URL's backend name."""

import importlib

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

from dbtestkit.config import mask_url
from dbtestkit.exceptions import BackendUnavailable, ConfigurationError

# The one table that maps a SQLAlchemy backend name to the module serving it.
# Each module is imported on first use: a suite on SQLite never loads the
# server backends, nor the drivers they check for.
BACKEND_MODULES = {
    "sqlite": "dbtestkit.backends.sqlite",
    "postgresql": "dbtestkit.backends.postgresql",
    "mysql": "dbtestkit.backends.mysql",
    "mariadb": "dbtestkit.backends.mysql",
}
# The sync driver to suggest when a URL names an async one (asyncpg, aiosqlite, aiomysql, …).
SYNC_DRIVERS = {
    "sqlite": "sqlite",
    "postgresql": "postgresql+psycopg",
    "mysql": "mysql+pymysql",
    "mariadb": "mariadb+pymysql",
}


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
    where = f"URL {mask_url(url)}, from {origin}"
    module_name = BACKEND_MODULES.get(parsed.get_backend_name())
    if module_name is None:
        raise ConfigurationError(
            f"dbtestkit does not support {parsed.get_backend_name()!r} databases "
            f"({where}); supported: {sorted(BACKEND_MODULES)}."
        )
    _check_driver(parsed, where)
    backend = importlib.import_module(module_name).Backend(parsed, cache_dir)
    backend.url_origin = origin
    return backend


def _check_driver(parsed, where):
    if parsed.drivername in ("sqlite", "sqlite+pysqlite"):
        return  # the standard library's sqlite3: sync, and importing SQLAlchemy's dialect costs ms
    try:
        dialect = parsed.get_dialect()
    except NoSuchModuleError as error:
        raise ConfigurationError(
            f"SQLAlchemy has no driver {parsed.drivername!r} ({where}); "
            "check the spelling of dialect+driver in the URL."
        ) from error
    if getattr(dialect, "is_async", False):
        sync = parsed.set(drivername=SYNC_DRIVERS[parsed.get_backend_name()])
        raise ConfigurationError(
            f"dbtestkit does not support async drivers yet, and {parsed.drivername!r} is one "
            f"({where}). Name a sync driver for the same database instead: "
            f"{mask_url(sync)}. Application code under test may still open a clone with its "
            "async driver: swap the driver in the clone's URL (self.url)."
        )
    try:
        dialect.import_dbapi()
    except ImportError as error:
        raise BackendUnavailable(
            f"The {parsed.get_driver_name()!r} driver is not installed ({where}): {error}. "
            f"Install it (pip install {error.name or parsed.get_driver_name()}) "
            "or choose another driver in the URL."
        ) from error
