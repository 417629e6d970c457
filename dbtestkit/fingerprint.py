"""Hash everything that shapes a golden database into one hex digest."""

import functools
import hashlib
from importlib import metadata as package_metadata


def compute_fingerprint(parts):
    """Return the sha256 hex digest of ``(label, bytes-or-str)`` parts, order-sensitive."""
    digest = hashlib.sha256()
    for label, value in parts:
        data = value if isinstance(value, bytes) else str(value).encode("utf-8")
        label_bytes = label.encode("utf-8")
        # Length prefixes keep ("ab", "c") and ("a", "bc") from colliding.
        digest.update(len(label_bytes).to_bytes(4, "big") + label_bytes)
        digest.update(len(data).to_bytes(8, "big") + data)
    return digest.hexdigest()


def library_versions():
    """Return fingerprint parts for the versions of the libraries that build goldens."""
    import sqlalchemy

    from dbtestkit import __version__

    return [
        ("dbtestkit", __version__),
        ("sqlalchemy", sqlalchemy.__version__),
        # Read from package metadata: importing Alembic costs tens of
        # milliseconds, and a warm start should not pay for it.
        ("alembic", _installed_version("alembic")),
    ]


@functools.lru_cache(maxsize=None)
def _installed_version(distribution):
    try:
        return package_metadata.version(distribution)
    except package_metadata.PackageNotFoundError:
        return "not installed"


def file_parts(labelled_paths):
    """Return fingerprint parts holding the label and bytes of each file."""
    parts = []
    for label, path in labelled_paths:
        with open(path, "rb") as source:
            parts.append((f"file:{label}", source.read()))
    return parts
