"""SQLite's foreign keys, switched on for every connection to a clone that a test was given.

SQLite ignores foreign keys unless each connection says ``PRAGMA
foreign_keys = ON``. Tests open connections through the clone's engine and
through engines of their own (``create_engine(self.url)``, an application's
settings), so one process-wide hook sees every new SQLite connection and
switches them on for the databases registered here, and for no other:
golden builds and migration walks keep SQLite's default, which Alembic's
batch migrations need.
"""

import threading

from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url

_enforced = set()
_lock = threading.Lock()
_installed = False


def enforce_for(clone):
    """Switch foreign keys on for every new SQLAlchemy connection to ``clone``'s database."""
    global _installed
    with _lock:
        if not _installed:
            # Engine as the target: the hook sees every engine's dialect, those made later too.
            event.listen(Engine, "do_connect", _connect)
            _installed = True
        _enforced.add(_database_of_clone(clone))


def stop_enforcing_for(clone):
    """Stop watching ``clone``'s database (the clone was dropped or kept)."""
    with _lock:
        _enforced.discard(_database_of_clone(clone))


def is_enforced(filename):
    """Tell whether connections to the database ``filename`` names must check foreign keys."""
    return bool(_enforced) and database_of(filename) in _enforced


def _database_of_clone(clone):
    # A clone not yet reachable by URL (sqlite_memory) names the URL it will have.
    url = getattr(clone, "shared_url", None) or clone.url
    return database_of(make_url(url).database or "")


def database_of(filename):
    """Return the database a SQLite connect argument names: ``file:/x?vfs=memdb`` and ``/x`` are both ``/x``."""
    filename = str(filename)
    if filename.startswith("file:"):
        filename = filename[len("file:"):].split("?", 1)[0]
    return filename


def _connect(dialect, connection_record, cargs, cparams):
    if dialect.name != "sqlite" or not _enforced:
        return None
    filename = cargs[0] if cargs else cparams.get("database")
    if filename is None or database_of(filename) not in _enforced:
        return None
    dbapi_connection = dialect.connect(*cargs, **cparams)
    cursor = dbapi_connection.cursor()
    try:
        # Outside any transaction, where the pragma takes effect (inside one it is a no-op).
        cursor.execute("PRAGMA foreign_keys = ON")
    finally:
        cursor.close()
    return dbapi_connection
