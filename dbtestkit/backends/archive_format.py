"""The golden archive file: a header, then framed payload, written atomically and checked whole on read.

Layout: the magic line, one JSON header line (fingerprint, backend, the
golden's record, the payload's SHA-256 and length), then frames of
``tag (8 bytes) + length (8 bytes) + data``. A file that does not match its
header in every byte is refused before anything of it is used.
"""

import hashlib
import json
import os
import tempfile

from dbtestkit.backends.processes import owner_is_gone, unique_suffix

MAGIC = b"dbtestkit-archive 1\n"
FILE_MODE = 0o600


class ArchiveRefused(Exception):
    """An archive that cannot be used: unreadable, corrupted, tampered with, or for another golden."""


def archive_name(fingerprint, backend_name):
    """Return the file name of the archive of a golden: its fingerprint and backend."""
    return f"dbtestkit-{backend_name}-{fingerprint}.golden"


def frame(tag, data):
    """Return one payload frame: an 8-byte tag, the data's length, the data."""
    tag_bytes = tag.encode("ascii").ljust(8)[:8]
    return tag_bytes + len(data).to_bytes(8, "big") + data


def write_archive(path, header, frames):
    """Write an archive of ``frames`` (bytes each) at ``path``: a temporary file renamed into place.

    A reader never sees half a file: until the rename the archive does not exist.
    """
    directory = os.path.dirname(os.path.abspath(path))
    chunks = list(frames)
    digest = hashlib.sha256()
    for chunk in chunks:
        digest.update(chunk)
    head = dict(header, payload_sha256=digest.hexdigest(), payload_length=sum(map(len, chunks)))
    name = os.path.basename(path)
    _remove_abandoned(directory, name)
    fd, temporary = tempfile.mkstemp(prefix=f".{name}-{unique_suffix()}-", dir=directory)
    try:
        with os.fdopen(fd, "wb") as out:
            os.fchmod(out.fileno(), FILE_MODE)
            out.write(MAGIC + json.dumps(head, sort_keys=True).encode("utf-8") + b"\n")
            for chunk in chunks:
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        try:
            os.unlink(temporary)
        except FileNotFoundError:
            pass
        raise
    return path


def _remove_abandoned(directory, name):
    # Temporary files of writers killed before their rename: never read, only in the way.
    for entry in os.listdir(directory):
        if entry.startswith(f".{name}-") and owner_is_gone(entry):
            try:
                os.unlink(os.path.join(directory, entry))
            except FileNotFoundError:
                pass


def read_archive(path, fingerprint, backend_name):
    """Return ``(header, frames)`` of the archive at ``path`` after checking every byte of it.

    ``frames`` is a list of ``(tag, data)``. Raises ``ArchiveRefused`` when
    the file is not an archive, is for another golden, or its payload does
    not match the SHA-256 its header vouches for.
    """
    try:
        with open(path, "rb") as source:
            data = source.read()
    except OSError as error:
        raise ArchiveRefused(f"it cannot be read ({error})") from error
    if not data.startswith(MAGIC):
        raise ArchiveRefused("it is not a dbtestkit golden archive")
    end = data.find(b"\n", len(MAGIC))
    try:
        header = json.loads(data[len(MAGIC):end])
    except ValueError as error:
        raise ArchiveRefused("its header is damaged") from error
    if not isinstance(header, dict):
        raise ArchiveRefused("its header is damaged")
    if header.get("fingerprint") != fingerprint or header.get("backend") != backend_name:
        raise ArchiveRefused(f"it holds golden {str(header.get('fingerprint'))[:12]} of "
                             f"{header.get('backend')}, not {fingerprint[:12]} of {backend_name}")
    payload = data[end + 1:]
    if len(payload) != header.get("payload_length") or \
            hashlib.sha256(payload).hexdigest() != header.get("payload_sha256"):
        raise ArchiveRefused("its contents do not match the SHA-256 in its header "
                             "(truncated, corrupted or changed since it was written)")
    return header, list(_frames(payload))


def _frames(payload):
    index = 0
    while index < len(payload):
        tag = payload[index:index + 8].decode("ascii", "replace").strip()
        length = int.from_bytes(payload[index + 8:index + 16], "big")
        index += 16
        yield tag, payload[index:index + length]
        index += length
