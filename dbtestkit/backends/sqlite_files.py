"""The files SQLite goldens are trusted by: private-file checks, stat signatures, checksums, sidecars, deletion; seed scripts split.

A golden file is trusted only with its sidecar record beside it, and only
while the file is exactly what the record vouches for: a SHA-256 of its
bytes, and a stat signature (device, inode, size, mtime, ctime) that lets a
warm start skip the hash. Any write to the file moves its ctime, which
nobody can set back, so an unchanged signature means unchanged bytes; the
one exception, a write within the filesystem's timestamp granularity of the
moment the signature was taken, is ruled out by the record's stamp (as Git
does for its index): a signature is only relied on when the file's ctime is
older than the stamp, a moment taken *before* the bytes were last hashed.
"""

import contextlib
import hashlib
import json
import os
import sqlite3
import stat
import time

from dbtestkit.backends.processes import owner_is_gone

FILE_MODE = 0o600
# What SQLite may keep beside a database file while it is open.
SIDE_FILES = ("-journal", "-wal", "-shm")
CHECKSUM = "sha256"
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
# Publishing waits at most this long for the filesystem clock to move past
# the golden's ctime (1 to 2 s on coarse filesystems, a few ms elsewhere).
STAMP_WAIT_SECONDS = 2.5
_POSIX = os.name == "posix"


class Unsafe(Exception):
    """A file dbtestkit must not trust; ``foreign`` when another user made it."""

    def __init__(self, message, foreign=False):
        super().__init__(message)
        self.foreign = foreign


def check_private(path, info, what):
    """Raise ``Unsafe`` unless ``info`` (an lstat) is a regular 0600 file of this user."""
    if hasattr(os, "getuid") and info.st_uid != os.getuid():
        raise Unsafe(
            f"{what} {path} belongs to another user (uid {info.st_uid}); dbtestkit never uses "
            "or deletes files it did not create. Delete it as its owner, or set "
            "DBTESTKIT_CACHE_DIR to a directory of your own", foreign=True,
        )
    if stat.S_ISLNK(info.st_mode):
        raise Unsafe(f"{what} {path} is a symbolic link (to {_link_target(path)}), not a file of dbtestkit's")
    if not stat.S_ISREG(info.st_mode):
        raise Unsafe(f"{what} {path} is not a regular file")
    mode = stat.S_IMODE(info.st_mode)
    if _POSIX and mode != FILE_MODE:
        raise Unsafe(f"{what} {path} has mode {mode:04o}, not 0600, so others may have changed it")


def _link_target(path):
    try:
        return os.readlink(path)
    except OSError:
        return "?"


def signature(info):
    """Return what a stat says about a file's identity and last change."""
    return [info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns]


def checksum(path):
    """Return ``sha256:<hex>`` of the file at ``path`` (never following a symbolic link)."""
    digest = hashlib.new(CHECKSUM)
    fd = os.open(path, os.O_RDONLY | _NOFOLLOW)
    with os.fdopen(fd, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return f"{CHECKSUM}:{digest.hexdigest()}"


def read_unchanged(path, expected):
    """Return the bytes of the file at ``path`` if its signature is still ``expected`` after reading, else None."""
    fd = os.open(path, os.O_RDONLY | _NOFOLLOW)
    with os.fdopen(fd, "rb") as stream:
        data = stream.read()
        # A write while reading moves the ctime, as for the signature checks of every clone.
        return data if signature(os.fstat(stream.fileno())) == expected else None


def read_sidecar(path, what):
    """Return the JSON object stored at ``path``, None when there is none; ``Unsafe`` if untrustworthy."""
    try:
        fd = os.open(path, os.O_RDONLY | _NOFOLLOW)
    except FileNotFoundError:
        return None
    except OSError as error:
        # O_NOFOLLOW on a symbolic link fails with ELOOP: say what it is.
        check_private(path, os.lstat(path), what)
        raise Unsafe(f"{what} {path} cannot be read ({error})") from error
    with os.fdopen(fd, "rb") as stream:
        check_private(path, os.fstat(stream.fileno()), what)
        data = stream.read()
    try:
        fields = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as error:
        raise Unsafe(f"{what} {path} is unreadable ({error})") from error
    if not isinstance(fields, dict):
        raise Unsafe(f"{what} {path} is not a dbtestkit record")
    return fields


class Sidecar:
    """A record being written under a temporary name, published by one atomic rename.

    Created first: its mtime is the stamp, the moment after which any change
    to the file it describes moves that file's ctime past the stamp.
    """

    def __init__(self, temporary):
        self.temporary = temporary
        self.fd = os.open(temporary, os.O_CREAT | os.O_EXCL | os.O_WRONLY | _NOFOLLOW, FILE_MODE)
        self.stamp_ns = os.fstat(self.fd).st_mtime_ns

    def stamp_after(self, ctime_ns, wait=STAMP_WAIT_SECONDS):
        """Move the stamp past ``ctime_ns`` (waiting for the clock); return whether it is past."""
        deadline = time.monotonic() + wait
        while self.stamp_ns <= ctime_ns and time.monotonic() < deadline:
            time.sleep(0.001)
            os.utime(self.temporary)
            self.stamp_ns = os.fstat(self.fd).st_mtime_ns
        return self.stamp_ns > ctime_ns

    def publish(self, fields, final):
        """Write ``fields`` as JSON, make it durable, and rename it to ``final``."""
        os.write(self.fd, json.dumps(fields, sort_keys=True).encode("utf-8"))
        os.fsync(self.fd)
        os.close(self.fd)
        self.fd = None
        os.replace(self.temporary, final)
        fsync_directory(os.path.dirname(final))

    def discard(self):
        """Remove the temporary record (it was not published)."""
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.temporary)


def vouch(path, info, fields, record_path, new_sidecar):
    """Check that ``path`` (lstat ``info``) holds the bytes its record ``fields`` vouch for.

    Returns the signature that now vouches for the file (None when only its
    bytes could), or raises ``Unsafe``. When the signature recorded cannot
    vouch (the file was moved, copied, restored from a CI cache, touched),
    the bytes decide, and the record gets the new signature, so the next
    start needs no hash. ``new_sidecar()`` returns a ``Sidecar`` or None.
    """
    if not str(fields.get("checksum", "")).startswith(f"{CHECKSUM}:"):
        raise Unsafe(f"its record {record_path} holds no {CHECKSUM} checksum of its bytes")
    current = signature(info)
    if current == fields.get("signature") and current[4] < _int(fields.get("stamp_ns")):
        return current
    # The stamp is taken before the bytes are hashed: a change after the hash moves the ctime past it.
    sidecar = new_sidecar()
    try:
        try:
            unchanged = checksum(path) == fields.get("checksum") and signature(os.lstat(path)) == current
        except OSError as error:
            raise Unsafe(f"it cannot be read ({error})") from error
        if not unchanged:
            raise Unsafe("its bytes changed since it was published (checksum mismatch)")
        if sidecar is None or current[4] >= sidecar.stamp_ns:
            return None
        try:
            sidecar.publish({**fields, "signature": current, "stamp_ns": sidecar.stamp_ns}, record_path)
        except OSError:
            return None
        return current
    finally:
        if sidecar is not None:
            sidecar.discard()


def publish_golden(build, golden, record_path, temporary_record, fields):
    """Rename the finished ``build`` to ``golden``, then publish its record; return the golden's signature.

    The record is renamed into place last: a kill at any earlier moment
    leaves a golden without a record, which nothing trusts.
    """
    # Built with synchronous = OFF: flushed here, once, before anything vouches for it.
    fd = os.open(build, os.O_RDONLY | _NOFOLLOW)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    digest = checksum(build)
    os.chmod(build, FILE_MODE)
    # A record left by an earlier golden must not vouch for this one.
    with contextlib.suppress(FileNotFoundError):
        os.unlink(record_path)
    os.replace(build, golden)
    fsync_directory(os.path.dirname(golden))
    sidecar = Sidecar(temporary_record)
    try:
        info = os.lstat(golden)
        sidecar.stamp_after(info.st_ctime_ns)
        # Hashed again after the stamp: what the record vouches for is what is there now.
        if checksum(golden) != digest or signature(os.lstat(golden)) != signature(info):
            raise Unsafe(f"the golden file {golden} was changed by someone else while it was published")
        sidecar.publish({**fields, "checksum": digest, "signature": signature(info),
                         "stamp_ns": sidecar.stamp_ns}, record_path)
    finally:
        sidecar.discard()
    return signature(info)


def _int(value):
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def fsync_directory(directory):
    """Make a rename in ``directory`` durable (without it a power cut can lose the rename)."""
    if hasattr(os, "O_DIRECTORY"):
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def owned(path):
    """Tell whether ``path`` (not followed if a link) exists and belongs to this user."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return False
    return not hasattr(os, "getuid") or info.st_uid == os.getuid()


def unlink(path):
    """Delete ``path`` if it exists."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def unlink_database(path):
    """Delete a database file and whatever SQLite kept beside it."""
    for suffix in ("", *SIDE_FILES):
        unlink(f"{path}{suffix}")


def backup_into_file(fill, path):
    """Open the SQLite file ``path``, let ``fill(connection)`` back a database up into it, close it."""
    target = sqlite3.connect(path)
    try:
        fill(target)
    finally:
        target.close()


def backup(golden, target):
    """Back the SQLite file ``golden`` up, read-only, into the open sqlite3 connection ``target``."""
    source = sqlite3.connect(f"file:{golden}?mode=ro", uri=True)
    try:
        source.backup(target)
    finally:
        source.close()


def split_statements(sql):
    """Yield the statements of a multi-statement SQLite script."""
    # sqlite3.complete_statement knows where a statement really ends (not
    # inside strings or triggers), unlike a naive split on ";".
    statement = ""
    for line in sql.splitlines(keepends=True):
        statement += line
        if sqlite3.complete_statement(statement):
            if statement.strip():
                yield statement
            statement = ""
    if statement.strip():
        yield statement


def leftover_files(clone_directory, kept_directory):
    """Return the clone files, and the half-kept clones in ``kept_directory``, of dead processes.

    A keep killed before its sidecar was published (or a delete_kept killed
    after removing it) leaves a kept file without a record: nobody can tell
    which test it belonged to, so it is a leftover like any other.
    """
    found = []
    if clone_directory.is_dir():
        found += [p for p in clone_directory.glob("clone-*.sqlite") if owner_is_gone(p.name)]
    if kept_directory.is_dir():
        for path in sorted(kept_directory.iterdir()):
            unrecorded = path.suffix == ".sqlite" and not path.with_suffix(".json").exists()
            if (unrecorded or path.name.endswith(".json.partial")) and owned(path) \
                    and owner_is_gone(path.name):
                found.append(path)
    return found
