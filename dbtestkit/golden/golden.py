"""``Golden``: one golden database (a schema source and its seeds on one backend) and its clones.

Framework-free, and knowing nothing above it: ``TestDatabase`` composes it
with the isolation scopes, the migration checks build their twins from it,
and a CLI or a pytest fixture can use it as it is.
"""

import threading
import time

from dbtestkit.golden.archive import export_golden
from dbtestkit.golden.build import ensure_golden
from dbtestkit.golden.derive import Prefix
from dbtestkit.golden.fingerprint import compute_fingerprint, library_versions
from dbtestkit.golden.journal import journal_build
from dbtestkit.golden.pool import ClonePool
from dbtestkit.event_loops import outside_event_loop
from dbtestkit.report import RUN


class Golden:
    """A golden database built once per fingerprint: ``fingerprint()``, ``ensure()``, ``clone()``, ``prune()``.

    ``backend`` keeps it (see ``dbtestkit.backends.backend_for``), ``source``
    builds its schema (``golden.sources``), ``seeds`` load data after it and
    ``before`` steps run on the empty database ahead of it (``golden.seeds.Seed``
    each). ``name`` labels its goldens, so projects sharing a cache or a
    server prune only their own; ``cache_dir`` holds the build journal.
    With ``enforce_foreign_keys``, its clones check foreign keys on every
    connection (SQLite does not by default), unless ``clone()`` says otherwise.
    """

    def __init__(self, backend, source, *, seeds=(), before=(), name, cache_dir,
                 enforce_foreign_keys=False, archive=None):
        self.backend = backend
        # A directory of golden archives (CI caches): restored from, written to.
        self.archive = archive
        self.source = source
        self.seeds = tuple(seeds)
        self.before = tuple(before)
        self.name = name
        self.cache_dir = cache_dir
        self.enforce_foreign_keys = enforce_foreign_keys
        # The published golden this object last ensured: checked once, not per clone.
        self._published = None
        self._pools = {}
        self._pools_lock = threading.Lock()
        # Whether clones are made ahead in background pools (the servers, unless switched off).
        self.pooled = backend.pooled

    def fingerprint(self):
        """Return the hex sha256 of everything that shapes the golden."""
        # The dialect is made only for a source that renders DDL (importing it costs ms).
        return self._fingerprint(self.source.fingerprint_parts(lambda: self.backend.dialect))

    def prefix_fingerprints(self):
        """Yield a ``Prefix`` (``fingerprint``, ``heads``, ``revisions``) for the goldens of earlier states of this history, longest first.

        A golden of one of these can be cloned and migrated the rest of the
        way. None with seeds: they ran after the prefix's migrations, so the
        new revisions would run on rows a build from empty does not have.
        """
        if self.seeds:
            return
        for parts, heads, revisions in self.source.prefix_parts(lambda: self.backend.dialect):
            yield Prefix(self._fingerprint(parts), heads, revisions)

    def _fingerprint(self, source_parts):
        parts = [("backend", self.backend.identity())]
        parts += source_parts
        for step in self.before:
            parts += [(f"before:{label}", data) for label, data in step.fingerprint_parts()]
        for seed in self.seeds:
            parts += seed.fingerprint_parts()
        parts += library_versions()
        return compute_fingerprint(parts)

    def ensure(self, progress=None):
        """Build the golden if no trusted one exists; return it (a ``PublishedGolden``: ``.url``, ``.built``).

        ``progress=True`` reports every migration of a build; the default
        reports only builds that take long, or all with DBTESTKIT_VERBOSE=1.
        Called inside a running event loop, the build runs in a thread of its
        own, where env.py may call ``asyncio.run()`` (the async template does).
        """
        return outside_event_loop(self._ensure, progress)

    def _ensure(self, progress):
        self._published = self._ensure_published(progress)
        if self._published.built:
            journal_build(self.cache_dir, self._published, self.backend.name)
        RUN.golden_ready(self._published, self.name)
        return self._published

    def _ensure_published(self, progress):
        return ensure_golden(
            self.backend, self.source, self.seeds, self.fingerprint(), self.name, progress,
            before=self.before, parents=self.prefix_fingerprints(), archive=self.archive,
        )

    def clone(self, kind=None, enforce_foreign_keys=None):
        """Return a new copy of the golden; ``kind="shared"`` when another process must open it.

        The default (``"in_process"``) is the fastest clone this process can
        use: in memory on SQLite, a database on the servers, whose every
        clone is shared anyway. ``enforce_foreign_keys`` (default: the
        golden's) is False for clones that Alembic migrates, whose batch
        migrations need SQLite's foreign keys off.
        """
        storage = self.backend.clone_storage(kind)
        # The golden is checked once, not per clone: hashing the history
        # again would double the cost of a clone.
        published = self._published or self.ensure()
        started = time.perf_counter()
        clone = self._clone_from(published, storage)
        clone.project = self.name
        if self.enforce_foreign_keys if enforce_foreign_keys is None else enforce_foreign_keys:
            self.backend.enforce_foreign_keys(clone)
        RUN.clone_made(time.perf_counter() - started)
        return clone

    def _clone_from(self, published, storage):
        if self.pooled:
            return self._pool_for(published.fingerprint, storage).take()
        try:
            return self.backend.clone(published.fingerprint, storage)
        except Exception:
            record = self.backend.read_record(published.fingerprint)
            if record is not None and record.mismatch(published.fingerprint) is None:
                raise
            # Pruned, or changed behind our back, since we checked: build it again.
            return self.backend.clone(self.ensure().fingerprint, storage)

    def _pool_for(self, fingerprint, storage):
        key = (fingerprint, storage)
        with self._pools_lock:
            if key not in self._pools:
                self._pools[key] = ClonePool(lambda: self.backend.clone(fingerprint, storage))
            return self._pools[key]

    def pool_status(self):
        """Return the status of each background clone pool (``ClonePool.status()``), oldest first."""
        with self._pools_lock:
            pools = list(self._pools.values())
        return [pool.status() for pool in pools]

    def prune(self, keep_newest=0):
        """Delete this project's goldens of other fingerprints, keeping the ``keep_newest`` newest.

        Goldens built under another ``name`` (other projects sharing the
        cache or the server) are left alone. Returns the deleted names.
        """
        return self.backend.prune({self.fingerprint()}, keep_newest, label=self.name)

    def prune_kept(self, keep_newest=0):
        """Delete this project's clones kept after failures, keeping the ``keep_newest`` newest.

        Returns the deleted ``KeptClone`` entries.
        """
        return self.backend.prune_kept(keep_newest, label=self.name)

    def export(self, directory):
        """Write the golden (built first if need be) into ``directory`` as an archive; return its path."""
        return export_golden(self.backend, self.ensure().fingerprint, directory)

    def discard(self):
        """Delete the golden of the current fingerprint, if there is one; return whether there was."""
        self.close()
        fingerprint = self.fingerprint()
        self._published = None
        with self.backend.build_lock(fingerprint):
            if self.backend.read_record(fingerprint) is None:
                return False
            self.backend.discard_golden(fingerprint)
        return True

    def close(self):
        """Drop the clones prepared ahead for this golden (also done at exit)."""
        pools, self._pools = self._pools, {}
        for pool in pools.values():
            pool.close()

    def twin(self, suffix, *, source=None, seeds=()):
        """Return a golden beside this one (same backend, cache and before steps), named ``<name>-<suffix>``.

        It is built from ``source`` (default: this golden's) with ``seeds``
        (default: none); the migration checks start from such twins.
        """
        return Golden(self.backend, source or self.source, seeds=seeds, before=self.before,
                      name=f"{self.name}-{suffix}", cache_dir=self.cache_dir, archive=self.archive)

    def __repr__(self):
        return f"<Golden {self.name} on {self.backend.name}>"


