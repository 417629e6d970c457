"""Derived goldens: a golden built from a copy of another golden with more seeds, without its migrations."""

from dbtestkit.golden.build import ensure_golden_from, run_seeds
from dbtestkit.golden.fingerprint import compute_fingerprint
from dbtestkit.golden.golden import Golden


class DerivedGolden(Golden):
    """The golden of ``parent`` (a ``Golden``) with ``extra`` seeds on top, built from a copy of it.

    Its fingerprint is the parent's and the extra seeds' sources: a change to
    either (a migration, a seed) builds it again; otherwise it is reused.
    """

    def __init__(self, parent, extra, *, name):
        super().__init__(parent.backend, parent.source, seeds=parent.seeds + tuple(extra),
                         before=parent.before, name=name, cache_dir=parent.cache_dir,
                         enforce_foreign_keys=parent.enforce_foreign_keys)
        self.parent = parent
        self.extra = tuple(extra)

    def fingerprint(self):
        """Return the hex sha256 of the parent's fingerprint and the extra seeds."""
        parts = [("derived from", self.parent.fingerprint())]
        for seed in self.extra:
            parts += seed.fingerprint_parts()
        return compute_fingerprint(parts)

    def _ensure_published(self, progress):
        parent = self.parent.ensure(progress)

        def steps(connection, reporter, at):
            run_seeds(connection, self.backend, self.extra)
            return at

        return ensure_golden_from(self.backend, parent, self.fingerprint(), self.name, steps, progress)

    def __repr__(self):
        return f"<DerivedGolden {self.name} on {self.backend.name}, from {self.parent.name}>"
