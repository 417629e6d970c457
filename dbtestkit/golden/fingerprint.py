"""Hash everything that shapes a golden database into one hex digest."""

import functools
import hashlib
import importlib.util
import os
import re
import sys
import time

import sqlalchemy

from dbtestkit.version import __version__


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
    return [
        ("dbtestkit", __version__),
        ("sqlalchemy", sqlalchemy.__version__),
        # Read from package metadata: importing Alembic costs tens of
        # milliseconds, and a warm start should not pay for it.
        ("alembic", _installed_version("alembic")),
    ]


@functools.lru_cache(maxsize=None)
def _installed_version(package):
    # The package's own __version__, read from its __init__.py without
    # importing it; importlib.metadata alone costs about 15 ms to import.
    module = sys.modules.get(package)
    if module is not None and isinstance(getattr(module, "__version__", None), str):
        return module.__version__
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.origin or not os.path.isfile(spec.origin):
        return "not installed"
    with open(spec.origin, encoding="utf-8") as source:
        found = re.search(r"""^__version__\s*=\s*["']([^"']+)["']""", source.read(), re.MULTILINE)
    if found is not None:
        return found.group(1)
    from importlib import metadata  # a package that does not say its version in __init__.py

    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


# path -> (stat signature, sha256 of the bytes); see file_digest().
_digests = {}
# A file modified this recently may change again within the clock's
# granularity without its size or mtime changing ("racy" in git's terms).
RACY_NANOSECONDS = 2_000_000_000


def file_parts(labelled_paths):
    """Return fingerprint parts holding the label and the sha256 of each file's bytes."""
    return [(f"file:{label}", file_digest(path)) for label, path in labelled_paths]


def file_digest(path):
    """Return the sha256 of a file's bytes, re-read only when its stat says it may have changed."""
    info = os.stat(path)
    signature = (info.st_mtime_ns, info.st_size, info.st_ino, info.st_ctime_ns)
    cached = _digests.get(path)
    if cached is not None and cached[0] == signature:
        return cached[1]
    with open(path, "rb") as source:
        digest = hashlib.sha256(source.read()).digest()
    if time.time_ns() - info.st_mtime_ns > RACY_NANOSECONDS:
        _digests[path] = (signature, digest)
    return digest
