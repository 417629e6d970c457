"""Build a golden database once per fingerprint, publish it atomically, verify it on reuse."""

import datetime
import time
from dataclasses import dataclass

from sqlalchemy import create_engine
from sqlalchemy.pool import NullPool

from dbtestkit.backends.records import GoldenRecord
from dbtestkit.golden.archive import export_quietly, restore_golden, restore_prefix
from dbtestkit.golden.derive import Prefix, start_from, start_from_parent
from dbtestkit.exceptions import GoldenMismatch, MigrationError, describe_error
from dbtestkit.golden.sources import BuildResult
from dbtestkit.process_state import preserved
from dbtestkit.report import report, verbose
from dbtestkit.version import __version__

# Builds shorter than this stay silent; longer ones show where they are.
QUIET_BUILD_SECONDS = 0.5


@dataclass(frozen=True)
class PublishedGolden:
    """A published golden database, as one ``ensure_golden`` found or built it."""

    fingerprint: str
    url: str
    built: bool
    seconds: float
    # Not built here but by another process, whose build lock this one waited
    # for this many seconds; None when the golden was ready at first look.
    waited: "float | None" = None
    # The golden this one was grown from (an earlier state of its history), if any.
    parent: "str | None" = None
    # Restored from a golden archive rather than built from the migrations.
    restored: bool = False


def ensure_golden(backend, source, seeds, fingerprint, label, progress=None, before=(), parents=(),
                  archive=None):
    """Return the golden for ``fingerprint``, building it first if no trusted one exists.

    ``source`` builds the schema (see sources.py); ``before`` steps run on
    the empty database ahead of it, ``seeds`` after it. ``parents`` yields
    a ``Prefix`` for each golden it may be grown from instead
    (``Golden.prefix_fingerprints``), read only when a build is needed.
    With ``archive`` (a directory), a golden archived there is restored
    instead of built, and a golden built here is archived there.
    """
    def start(fingerprint):
        nonlocal parents
        if archive:
            parents = list(parents)
            restore_prefix(backend, parents, archive, label)
        return start_from_parent(backend, fingerprint, parents) or (backend.start_build(fingerprint), None)

    def build(target, prefix, reporter):
        # The parent's before steps already ran, on its empty database.
        steps = ((), seeds) if prefix else (before, seeds)
        _build(backend, target, source, steps, (fingerprint, prefix), reporter, label)

    return _ensure(backend, fingerprint, label, progress, start, build, archive)


def ensure_golden_from(backend, parent, fingerprint, label, steps, progress=None):
    """Return the golden for ``fingerprint``, building it from a copy of the golden ``parent`` if need be.

    ``parent`` is a ``PublishedGolden``; nothing of its history runs again.
    ``steps(connection, reporter, result)`` runs on the copy (the reporter
    takes ``revision_applied`` calls; ``result`` is the ``BuildResult`` the
    parent is at) and returns the ``BuildResult`` the new golden is at: the
    parent's, or further. The copy is then recorded and published as every
    golden is, under ``fingerprint``'s build lock.
    """
    at = []

    def start(fingerprint):
        build, record = start_from(backend, fingerprint, parent.fingerprint)
        at.append(BuildResult(record.heads, record.version_table))
        return build, Prefix(parent.fingerprint, record.heads)

    def build(target, prefix, reporter):
        engine = create_engine(target.url, poolclass=NullPool)
        backend.prepare_build_engine(engine)
        try:
            with engine.connect() as connection:
                result = steps(connection, reporter, at[-1])
                if connection.in_transaction():
                    connection.commit()
                _record(backend, connection, target, (fingerprint, prefix), result, label)
        finally:
            engine.dispose()

    return _ensure(backend, fingerprint, label, progress, start, build)


def run_seeds(connection, backend, seeds):
    """Run ``seeds`` (``Seed`` each) through ``connection`` in one transaction, as a build does."""
    with connection.begin():
        for seed in seeds:
            _run_step(seed, connection, backend, "Seed")


def _ensure(backend, fingerprint, label, progress, start, build, archive=None):
    # The frame every golden is made in: reuse a trusted one, else restore it
    # from the archive or build it under the lock, into a temporary name
    # (``start`` returns it and the ``Prefix`` it was copied from, or None),
    # and publish it (or abandon it).
    started = time.perf_counter()
    if _trusted(backend, fingerprint):
        return PublishedGolden(fingerprint, backend.golden_url(fingerprint), False, time.perf_counter() - started)
    waiting = time.perf_counter()
    with backend.build_lock(fingerprint):
        # Another process may have published it while we waited for the lock.
        if _trusted(backend, fingerprint, discard=True):
            waited = time.perf_counter() - waiting
            return PublishedGolden(fingerprint, backend.golden_url(fingerprint), False,
                          time.perf_counter() - started, waited)
        backend.remove_stale_builds(fingerprint)
        restored = archive and restore_golden(backend, fingerprint, archive, label)
        if restored:
            _publish(backend, restored, fingerprint)
            return PublishedGolden(fingerprint, backend.golden_url(fingerprint), True,
                                   time.perf_counter() - started, restored=True)
        target, prefix = start(fingerprint)
        parent = prefix and prefix.fingerprint
        reporter = BuildProgress(fingerprint, label, always=progress, parent=parent)
        try:
            # env.py, migrations and seeds run in this process: a cold run must
            # leave it as a warm one (which runs none of them) would.
            with preserved():
                build(target, prefix, reporter)
        except BaseException:
            backend.abandon(target)
            raise
        _publish(backend, target, fingerprint)
        reporter.finish()
    seconds = time.perf_counter() - started
    if archive:
        export_quietly(backend, fingerprint, archive)
    return PublishedGolden(fingerprint, backend.golden_url(fingerprint), True, seconds, parent=parent)


def _publish(backend, build, fingerprint):
    try:
        backend.publish(build, fingerprint)
    except BaseException:
        backend.abandon(build)
        raise


def _trusted(backend, fingerprint, discard=False):
    record = backend.read_record(fingerprint)
    if record is None:
        return False
    problem = record.mismatch(fingerprint)
    if problem is None:
        return True
    if record.foreign:
        raise GoldenMismatch(f"Golden {fingerprint[:12]} cannot be used: {problem}.")
    if discard:
        report(f"rebuilding golden {fingerprint[:12]}: {problem}")
        backend.discard_golden(fingerprint)
    return False


def _build(backend, build, source, steps, lineage, progress, label):
    # A plain engine, as `alembic upgrade` would use: migrations run exactly
    # as they do in production. The connection is handed over un-begun so an
    # env.py that opens its own connection does not wait on our lock.
    before, seeds = steps
    fingerprint, prefix = lineage
    engine = create_engine(build.url, poolclass=NullPool)
    backend.prepare_build_engine(engine)
    try:
        if before:
            with engine.connect() as connection, connection.begin():
                for step in before:
                    _run_step(step, connection, backend, "before_migrations step")
        with engine.connect() as connection:
            result = source.build(connection, build.url, progress.revision_applied,
                                  lambda: backend.async_url(build.url),
                                  applied=prefix.revisions if prefix else ())
            if connection.in_transaction():
                connection.commit()
        with engine.connect() as connection:
            source.verify(connection, result)
            if connection.in_transaction():
                connection.rollback()
            run_seeds(connection, backend, seeds)
            _record(backend, connection, build, lineage, result, label)
    finally:
        engine.dispose()


def _record(backend, connection, build, lineage, result, label):
    fingerprint, prefix = lineage
    record = GoldenRecord(
        fingerprint=fingerprint,
        heads=result.heads,
        version_table=result.version_table,
        dbtestkit_version=__version__,
        built_at=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        label=label,
        parent=prefix.fingerprint if prefix else "",
    )
    build.record = record
    with connection.begin():
        backend.write_record(connection, record)


def _run_step(step, connection, backend, kind):
    try:
        step.run(connection, backend)
    except KeyboardInterrupt:
        raise
    except BaseException as error:  # sys.exit() in a seed must not end the test run quietly
        raise MigrationError(
            f"{kind} {step.identity} failed while building the golden database: "
            f"{describe_error(error)}. Fix it; the half-built golden was discarded."
        ) from error


class BuildProgress:
    """Reports a build's progress once it has taken long enough to be worth watching."""

    def __init__(self, fingerprint, label, always=None, parent=None):
        self.prefix = f"golden {label} {fingerprint[:10]}…"
        self.parent = parent
        self.started = time.perf_counter()
        self.pending = []
        self.speaking = verbose() if always is None else always

    def revision_applied(self, done, total, revision):
        """Note that revision number ``done`` of ``total`` is applied."""
        self.pending.append(f"{self.prefix} [{done}/{total}] {revision}")
        if not self.speaking and time.perf_counter() - self.started > QUIET_BUILD_SECONDS:
            self.speaking = True
        if self.speaking:
            for line in self.pending:
                report(line)
            self.pending.clear()

    def finish(self):
        """Report the end of a build that reported progress."""
        if self.speaking:
            grown = f" from golden {self.parent[:10]}…" if self.parent else ""
            report(f"{self.prefix} built{grown} in {time.perf_counter() - self.started:.1f}s")
