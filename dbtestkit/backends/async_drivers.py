"""The async driver for each sync URL, and what an async savepoint-mode engine needs per dialect."""

from sqlalchemy.engine import make_url

from dbtestkit.config import mask_url
from dbtestkit.exceptions import BackendUnavailable, ConfigurationError

# Sync driver -> the async driver of the same family, so a project that
# installed psycopg (3) needs nothing more for postgresql+psycopg_async.
ASYNC_DRIVERS = {
    ("sqlite", "pysqlite"): "sqlite+aiosqlite",
    ("postgresql", "psycopg"): "postgresql+psycopg_async",
    ("postgresql", "psycopg2"): "postgresql+asyncpg",
    ("mysql", "pymysql"): "mysql+aiomysql",
    ("mariadb", "pymysql"): "mariadb+aiomysql",
}
# When the sync driver has no listed twin: the backend's usual async driver.
DEFAULT_ASYNC_DRIVERS = {
    "sqlite": "sqlite+aiosqlite",
    "postgresql": "postgresql+asyncpg",
    "mysql": "mysql+aiomysql",
    "mariadb": "mariadb+aiomysql",
}


def async_url(url):
    """Return ``url`` (a clone's sync URL) with the matching async driver, checking it is installed."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    drivername = ASYNC_DRIVERS.get((backend, parsed.get_driver_name())) or DEFAULT_ASYNC_DRIVERS.get(backend)
    if drivername is None:
        raise ConfigurationError(
            f"dbtestkit knows no async driver for {backend!r} databases ({mask_url(url)}); "
            f"it has one for {sorted(DEFAULT_ASYNC_DRIVERS)}."
        )
    converted = parsed.set(drivername=drivername)
    try:
        converted.get_dialect().import_dbapi()
    except ImportError as error:
        raise BackendUnavailable(
            f"The async driver {drivername!r} is not installed, and async fixtures open the "
            f"clone ({mask_url(converted)}) with it: pip install {error.name or drivername} "
            "(SQLAlchemy's asyncio support also needs greenlet)."
        ) from error
    return converted.render_as_string(hide_password=False)


def prepare_async_savepoint_engine(engine):
    """Make SAVEPOINT work on an ``AsyncEngine`` whose connection holds a test's outer transaction."""
    if engine.dialect.name == "sqlite":
        from dbtestkit.backends.sqlite import emit_begin_ourselves

        emit_begin_ourselves(engine.sync_engine)
