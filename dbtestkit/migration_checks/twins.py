"""The databases the migration checks start from, and the clone they pass from one check to the next.

Checks start from what the migrations make: the golden without its seeds,
or an empty database (empty but for what the ``before_migrations`` steps
make, where the history starts).
"""

import weakref


class CloneKeeper:
    """Holds one untouched clone of the golden between checks (one per test class)."""

    def __init__(self):
        self._clone = None

    def take(self):
        """Return the kept clone (now the caller's), or None."""
        clone, self._clone = self._clone, None
        return clone

    def keep(self, clone):
        """Keep ``clone`` for the next check; drop it if one is kept already."""
        if self._clone is None:
            self._clone = clone
        else:
            clone.drop()

    def close(self):
        """Drop the kept clone, if any."""
        clone = self.take()
        if clone is not None:
            clone.drop()


_unseeded_twins = weakref.WeakKeyDictionary()
_empty_twins = {}


def unseeded(database):
    """Return ``database``, or a twin without seeds (checks start from what migrations make)."""
    if not database.seeds:
        return database
    if database not in _unseeded_twins:
        project = database.schema.project
        source = ({"alembic_config": project.config} if project.config is not None
                  else {"alembic_ini": str(project.ini_path)})
        _unseeded_twins[database] = _sibling(database, "unseeded", source)
    return _unseeded_twins[database]


def empty_database_for(database):
    """Return a TestDatabase on the same server and cache whose golden is an empty database.

    Empty but for what ``database``'s before_migrations steps make: the
    history starts from there.
    """
    from sqlalchemy import MetaData

    key = (database.settings.url, str(database.settings.cache_dir), _before_steps(database))
    if key not in _empty_twins:
        _empty_twins[key] = _sibling(database, "empty", {"metadata": MetaData()})
    return _empty_twins[key]


def _before_steps(database):
    return tuple(step.function or step.path for step in database.before_migrations)


def _sibling(database, kind, schema_source):
    from dbtestkit.database import TestDatabase

    settings = database.settings
    return TestDatabase(settings.url, cache_dir=settings.cache_dir, name=f"{database.name}-{kind}",
                        keep=False, before_migrations=_before_steps(database), **schema_source)
