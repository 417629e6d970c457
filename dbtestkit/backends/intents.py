"""Intent records: written before a CREATE DATABASE, so that a creator killed right after it is known.

PostgreSQL cannot create a database and mark it in one statement (the marker
is a COMMENT that follows). A database of ours without a comment is provably
ours only if the process that created it said so first: it writes an intent
file (who: user, host, pid; which name; what kind) into the private cache
before the CREATE, and removes it once the marker is in place.
"""

import contextlib
import hashlib
import json
import os
import time
from pathlib import Path

from dbtestkit.backends.processes import creator, creator_is_gone

FILE_MODE = 0o600
SUFFIX = ".intent"
TEMPORARY = ".tmp"


class IntentJournal:
    """The intent records of one server, kept in a private folder of the cache."""

    def __init__(self, directory, server, user):
        self.directory = Path(directory)
        # Files of several servers may share the folder: each name says which it is for.
        self.server = server
        self.user = user or ""
        self._prefix = hashlib.sha256(f"{server}\n{self.user}".encode()).hexdigest()[:10] + "-"

    def _path(self, name):
        return self.directory / f"{self._prefix}{name}{SUFFIX}"

    def record(self, name, kind, fingerprint):
        """Write the intent to create database ``name`` (atomically: temporary file, then rename)."""
        self.directory.mkdir(mode=0o700, exist_ok=True)
        fields = {"server": self.server, "user": self.user, "name": name, "kind": kind,
                  "fingerprint": fingerprint, "at": time.time(), **creator()}
        path = self._path(name)
        temporary = path.with_name(f"{path.name}.{os.getpid()}{TEMPORARY}")
        descriptor = os.open(temporary, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, FILE_MODE)
        with os.fdopen(descriptor, "w") as stream:
            json.dump(fields, stream, sort_keys=True)
        os.replace(temporary, path)

    def forget(self, name):
        """Remove the intent record of ``name``, if any."""
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._path(name))

    def get(self, name):
        """Return the intent recorded for ``name`` on this server and user, or None."""
        try:
            fields = json.loads(self._path(name).read_text())
        except (OSError, ValueError):
            return None
        if not isinstance(fields, dict) or fields.get("server") != self.server \
                or fields.get("user") != self.user or fields.get("name") != name:
            return None
        return fields

    def names(self):
        """Return the database names this server and user have intent records for."""
        if not self.directory.is_dir():
            return []
        return sorted(path.name[len(self._prefix):-len(SUFFIX)]
                      for path in self.directory.glob(f"{self._prefix}*{SUFFIX}"))

    def sweep(self, existing):
        """Remove records of dead creators whose database does not exist; return their names.

        ``existing`` holds the names of the databases the server has. A
        creator that died before its CREATE DATABASE left only the record.
        """
        swept = []
        for name in self.names():
            fields = self.get(name)
            if name not in existing and (fields is None or creator_is_gone(fields)):
                self.forget(name)
                swept.append(name)
        # A creator killed while writing its record left a temporary file (named by its pid).
        for temporary in self.directory.glob(f"{self._prefix}*{TEMPORARY}"):
            pid = temporary.name[:-len(TEMPORARY)].rpartition(".")[2]
            if pid.isdigit() and creator_is_gone({**creator(), "pid": pid}):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(temporary)
        return swept
