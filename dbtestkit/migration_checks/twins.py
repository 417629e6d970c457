"""The goldens the migration checks start from, and the clone they pass from one check to the next.

Checks start from what the migrations make: a twin of the golden without
its seeds, or an empty database (empty but for what the golden's
``before_migrations`` steps make, where the history starts).
"""

import weakref

from sqlalchemy import MetaData

from dbtestkit.golden.sources import MetadataSource


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


def unseeded_twin(golden):
    """Return ``golden``, or its twin without seeds (checks start from what migrations make)."""
    if not golden.seeds:
        return golden
    if golden not in _unseeded_twins:
        _unseeded_twins[golden] = golden.twin("unseeded")
    return _unseeded_twins[golden]


def empty_twin(golden):
    """Return a golden on the same backend and cache whose database is empty, one per such place.

    Empty but for what ``golden``'s before_migrations steps make: the
    history starts from there.
    """
    key = (golden.backend.url.render_as_string(hide_password=False), str(golden.cache_dir),
           tuple(step.function or step.path for step in golden.before))
    if key not in _empty_twins:
        _empty_twins[key] = golden.twin("empty", source=MetadataSource(MetaData()))
    return _empty_twins[key]
