"""Sync and async drivers of one database: which one builds and clones goldens, which one the app awaits.

Goldens are built and cloned with a sync driver, outside any event loop;
async test cases and an async env.py get the same database through an async
driver. A URL may name either kind: the other is derived from these tables.
"""

import importlib

from sqlalchemy.engine import make_url

from dbtestkit.exceptions import BackendUnavailable

# (backend, async driver) -> the sync drivers that reach the same server, best first.
SYNC_FOR_ASYNC = {
    ("sqlite", "aiosqlite"): ("pysqlite",),
    ("postgresql", "asyncpg"): ("psycopg", "psycopg2"),
    ("postgresql", "psycopg_async"): ("psycopg",),
    ("mysql", "aiomysql"): ("pymysql", "mysqldb"),
    ("mysql", "asyncmy"): ("pymysql", "mysqldb"),
    ("mariadb", "aiomysql"): ("pymysql", "mysqldb"),
    ("mariadb", "asyncmy"): ("pymysql", "mysqldb"),
}
# backend -> the async drivers async code uses when the URL names a sync one: the first installed.
DEFAULT_ASYNC = {
    "sqlite": ("aiosqlite",),
    "postgresql": ("psycopg_async", "asyncpg"),
    "mysql": ("aiomysql", "asyncmy"),
    "mariadb": ("aiomysql", "asyncmy"),
}
# driver -> what to pip install for it.
PACKAGES = {
    "pysqlite": "sqlite3 (part of Python)",
    "psycopg": "psycopg[binary]",
    "psycopg2": "psycopg2-binary",
    "pymysql": "PyMySQL",
    "mysqldb": "mysqlclient",
    "aiosqlite": "aiosqlite",
    "asyncpg": "asyncpg",
    "psycopg_async": "psycopg[binary]",
    "aiomysql": "aiomysql",
    "asyncmy": "asyncmy",
}
# The extra of dbtestkit that installs an async driver with its sync partner.
EXTRAS = {"aiosqlite": "asyncio", "asyncpg": "asyncpg", "psycopg_async": "postgresql,asyncio",
          "aiomysql": "aiomysql", "asyncmy": "asyncmy"}


def is_async(parsed):
    """Tell whether the URL ``parsed`` names an async driver SQLAlchemy knows."""
    return (parsed.get_backend_name(), parsed.get_driver_name()) in SYNC_FOR_ASYNC


def sync_url(parsed, where):
    """Return ``parsed`` with its async driver swapped for an installed sync one (itself if sync).

    ``where`` names the URL and its origin, for the message when no sync
    driver is installed.
    """
    backend, driver = parsed.get_backend_name(), parsed.get_driver_name()
    candidates = SYNC_FOR_ASYNC.get((backend, driver))
    if candidates is None:
        return parsed
    for candidate in candidates:
        sync = parsed.set(drivername=backend if candidate == "pysqlite" else f"{backend}+{candidate}")
        try:
            sync.get_dialect().import_dbapi()
        except ImportError:
            continue
        return sync
    first = candidates[0]
    raise BackendUnavailable(
        f"The URL names the async driver {driver!r} ({where}). dbtestkit builds and clones "
        f"goldens with a sync driver of the same database, outside any event loop, and none "
        f"is installed ({', '.join(candidates)}). Install one: pip install "
        f"'dbtestkit[{EXTRAS.get(driver, 'asyncio')}]' (or pip install {PACKAGES[first]})."
    )


def async_drivername(parsed):
    """Return the ``backend+driver`` async code uses for ``parsed``: its own driver if async, else the default."""
    backend = parsed.get_backend_name()
    if is_async(parsed):
        return parsed.drivername
    candidates = [f"{backend}+{driver}" for driver in DEFAULT_ASYNC[backend]]
    for candidate in candidates:
        try:
            make_url(f"{candidate}://").get_dialect().import_dbapi()
        except ImportError:
            continue
        return candidate
    return candidates[0]


def to_async_url(url, drivername):
    """Return ``url`` (a string) with its driver swapped for the async ``drivername``, password kept."""
    return make_url(url).set(drivername=drivername).render_as_string(hide_password=False)


def check_async_driver(drivername):
    """Raise BackendUnavailable unless SQLAlchemy's asyncio support and the async ``drivername`` are installed."""
    driver = drivername.partition("+")[2]
    extra = EXTRAS.get(driver, "asyncio")
    try:
        importlib.import_module("greenlet")
    except ImportError as error:
        raise BackendUnavailable(
            "SQLAlchemy's asyncio support needs the greenlet package, which is not installed: "
            f"pip install 'dbtestkit[{extra}]' (or pip install 'SQLAlchemy[asyncio]')."
        ) from error
    try:
        make_url(f"{drivername}://").get_dialect().import_dbapi()
    except ImportError as error:
        raise BackendUnavailable(
            f"The async driver {driver!r} ({drivername}) is not installed: {error}. Install "
            f"it: pip install 'dbtestkit[{extra}]' (or pip install {PACKAGES.get(driver, driver)}), "
            "or name another async driver in the URL."
        ) from error
