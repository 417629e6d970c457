"""Golden archives: a golden as one portable file named by its fingerprint, for CI caches.

``export_golden`` writes one; ``restore_golden`` starts a build from one and
checks it like any golden before it may be published: the file must match
its SHA-256, the restored database the digest taken at export, and its
version table the heads its record names. Anything else is refused with a
message, and the golden is built as if there were no archive.
"""

import os
import stat
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

from dbtestkit.backends.archive_format import ArchiveRefused, archive_name, read_archive, write_archive
from dbtestkit.backends.records import GoldenRecord
from dbtestkit.exceptions import DbtestkitError, GoldenMismatch
from dbtestkit.report import report
from dbtestkit.version import __version__


def archive_path(directory, fingerprint, backend):
    """Return where the archive of the golden of ``fingerprint`` on ``backend`` lives in ``directory``."""
    return Path(directory) / archive_name(fingerprint, backend.name)


def export_golden(backend, fingerprint, directory):
    """Write the (published, trusted) golden of ``fingerprint`` into ``directory``; return the file's path.

    The file appears whole or not at all (a temporary file renamed into place).
    """
    record = backend.read_record(fingerprint)
    problem = "it does not exist" if record is None else record.mismatch(fingerprint)
    if problem:
        raise GoldenMismatch(f"Golden {fingerprint[:12]} cannot be exported: {problem}. "
                             "Build it first (dbtestkit build).")
    frames, digest = backend.export_frames(fingerprint)
    header = {"fingerprint": fingerprint, "backend": backend.name, "identity": backend.identity(),
              "record": dict(record.as_rows()), "digest": digest, "dbtestkit": __version__}
    directory = Path(directory)
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        return write_archive(archive_path(directory, fingerprint, backend), header, frames)
    except OSError as error:
        raise DbtestkitError(f"Cannot write the golden archive into {directory}: {error}. "
                             "Make the directory writable, or name another one.") from error


def export_quietly(backend, fingerprint, directory):
    """Export a freshly built golden into the archive directory; a failure is reported, not raised."""
    try:
        export_golden(backend, fingerprint, directory)
    except DbtestkitError as error:
        report(f"golden {fingerprint[:12]} was not archived: {error}")


def restore_golden(backend, fingerprint, directory, label=""):
    """Start the build of ``fingerprint`` from its archive in ``directory``; None when there is none usable.

    Returns the ``BuildTarget``, filled, checked and with its record
    written, ready for ``backend.publish``. A refused archive is reported
    (naming the file and why) and left where it is.
    """
    path = archive_path(directory, fingerprint, backend)
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return None
    build = None
    try:
        if not stat.S_ISREG(info.st_mode) or (hasattr(os, "getuid") and info.st_uid != os.getuid()):
            raise ArchiveRefused("it is not a regular file of this user")
        header, frames = read_archive(path, fingerprint, backend.name)
        if header.get("identity") != backend.identity():
            raise ArchiveRefused(f"it was made on {header.get('identity')}, not {backend.identity()}")
        record = GoldenRecord.from_rows(dict(header.get("record") or {}).items())
        if record.fingerprint != fingerprint:
            raise ArchiveRefused(f"its record is for golden {record.fingerprint[:12]}")
        build = backend.start_build(fingerprint)
        if backend.restore_frames(build, frames) != header.get("digest"):
            raise ArchiveRefused("the restored database differs from the golden it was made from")
        _check_and_record(backend, build, record)
    except (ArchiveRefused, DbtestkitError, SQLAlchemyError, ValueError, KeyError) as error:
        if build is not None:
            backend.abandon(build)
        report(f"golden archive {path} refused: {error}; building golden {fingerprint[:12]} "
               "from the migrations instead")
        return None
    except BaseException:
        if build is not None:
            backend.abandon(build)
        raise
    build.record = record
    return build


def restore_prefix(backend, prefixes, directory, label=""):
    """Restore the golden of the longest of ``prefixes`` archived in ``directory``, unless one is there already.

    A CI job on an empty server, whose cache holds the archive of the
    history before this pull request's revisions, then grows its golden
    from that one. Each restore is published under its own build lock
    (taken inside the caller's: always from the longer history to the shorter).
    """
    for prefix in prefixes:
        record = backend.read_record(prefix.fingerprint)
        if record is not None and record.mismatch(prefix.fingerprint) is None:
            return
        if not archive_path(directory, prefix.fingerprint, backend).exists():
            continue
        with backend.build_lock(prefix.fingerprint):
            record = backend.read_record(prefix.fingerprint)
            if record is not None and record.mismatch(prefix.fingerprint) is None:
                return
            if record is not None and not record.foreign:
                backend.discard_golden(prefix.fingerprint)
            backend.remove_stale_builds(prefix.fingerprint)
            build = restore_golden(backend, prefix.fingerprint, directory, label)
            if build is not None:
                try:
                    backend.publish(build, prefix.fingerprint)
                except BaseException:
                    backend.abandon(build)
                    raise
                return


def _check_and_record(backend, build, record):
    engine = create_engine(build.url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            if record.version_table:
                table = connection.dialect.identifier_preparer.quote(record.version_table)
                heads = tuple(sorted(connection.execute(text(f"SELECT version_num FROM {table}")).scalars()))
                if heads != tuple(sorted(record.heads)):
                    raise ArchiveRefused(f"it holds heads {heads}, its record says {record.heads}")
                connection.rollback()
            with connection.begin():
                backend.write_record(connection, record)
    finally:
        engine.dispose()
