"""What the server backends (PostgreSQL, MySQL) share: the admin connection, names, markers, the create frame."""

import abc
import datetime
import json
import re
import secrets
import time
from typing import NamedTuple

from sqlalchemy import create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from dbtestkit.backends.base import BackendBase
from dbtestkit.backends.processes import unique_suffix
from dbtestkit.config import mask_url
from dbtestkit.exceptions import BackendUnavailable, DbtestkitError

MARKER_PREFIX = "dbtestkit:"
PREFIX = "dbtk"


def marker_text(kind, **fields):
    """Return the marker text that says dbtestkit made a database, and what it is."""
    return MARKER_PREFIX + json.dumps({"kind": kind, **fields}, sort_keys=True)


def parse_marker(text):
    """Return the fields of a marker, or None when ``text`` is not one of ours."""
    if not text or not text.startswith(MARKER_PREFIX):
        return None
    try:
        fields = json.loads(text[len(MARKER_PREFIX):])
    except ValueError:
        return None
    return fields if isinstance(fields, dict) else None


def server_suffix():
    """Return the unique part of a new database name: host, pid, counter, 8 random hex digits.

    Older dbtestkit versions took any name of the shape ``…_<host>_<pid>_<n>_<6 hex>``
    of a dead pid for theirs and dropped it; 8 digits keep them off ours.
    """
    return unique_suffix("_", random_bytes=4)


def database_name(kind, fingerprint, suffix=""):
    """Return ``dbtk_<kind>_<fingerprint part>[_suffix]``, lower case, within 63 characters."""
    name = f"{PREFIX}_{kind}_{fingerprint}"
    if suffix:
        name += "_" + re.sub(r"[^a-z0-9_]", "_", suffix.lower())
    return name[:63]


class AdminConnection:
    """Connections to the database named in the user's URL, used only for server-wide DDL.

    ``usual_database`` is one every server has (or "" when none is needed),
    suggested when the URL names a database that does not exist.
    """

    def __init__(self, url, product, start_hint, usual_database=""):
        self.url = url
        self.product = product
        self.start_hint = start_hint
        self.usual_database = usual_database
        # Where the URL was set ("--url", "DBTESTKIT_URL", …), named in advice.
        self.url_origin = "the URL"
        self._engine = None

    @property
    def engine(self):
        """The autocommit engine on the user's URL (it never writes to that database)."""
        if self._engine is None:
            self._engine = create_engine(self.url, isolation_level="AUTOCOMMIT", pool_size=2)
        return self._engine

    def connect(self):
        """Connect, turning a refused or failed login into a BackendUnavailable with advice."""
        try:
            return self.engine.connect()
        except DBAPIError as error:
            detail = str(getattr(error, "orig", error)).strip().splitlines()[0]
            origin = self.url_origin
            if re.search(r'database ".*" does not exist|unknown database', detail, re.IGNORECASE):
                usual = mask_url(self.url.set(database=self.usual_database))
                advice = (
                    f"The database {self.url.database!r} named in the URL does not exist. "
                    "dbtestkit only needs an existing database to connect to, and never writes "
                    f"to it (goldens and clones are databases of their own): fix {origin}, "
                    f"e.g. to {usual}"
                )
            elif re.search(r"password|authentication|access denied|role .* does not exist",
                           detail, re.IGNORECASE):
                advice = f"Check the user and password in the URL (from {origin})"
            else:
                advice = f"Is the server running? {self.start_hint}, or fix {origin}"
            raise BackendUnavailable(
                f"Cannot connect to {self.product} at {mask_url(self.url)}: {detail}. {advice}."
            ) from error

    def dispose(self):
        """Close pooled admin connections."""
        if self._engine is not None:
            self._engine.dispose()


class ServerBackend(BackendBase):
    """What PostgreSQL and MySQL share: naming, URLs, creating and dropping, leftovers. Subclasses do the SQL."""

    # Any process that can reach the server can open a clone.
    clone_storage_of = {"in_process": "database", "shared": "database"}
    # A clone is a CREATE DATABASE (tens to hundreds of milliseconds): worth
    # preparing ahead in the background.
    pooled = True
    # Each leftover is a DROP DATABASE (a checkpoint on PostgreSQL): the first
    # clone does not wait for those a previous run left (see ClonePool).
    reaps_in_background = True
    # The embedded cluster serving this backend's URL, if it is one (set by backend_for).
    cluster = None

    def __init__(self, url, admin):
        super().__init__(url)
        self.admin = admin

    def dispose(self):
        """Close the pooled admin connections."""
        self.admin.dispose()

    @property
    def url_origin(self):
        """Where the URL was set (``--url``, ``DBTESTKIT_URL``, …), named in advice."""
        return self.admin.url_origin

    @url_origin.setter
    def url_origin(self, origin):
        self.admin.url_origin = origin

    def describe(self):
        """Return where this backend keeps goldens, for messages."""
        if self.cluster is not None:
            return f"the {self.cluster.describe()}"
        return self.url.render_as_string(hide_password=True)

    def url_of(self, name):
        """Return the URL of database ``name`` on this server, password included."""
        return self.url.set(database=name).render_as_string(hide_password=False)

    def golden_name(self, fingerprint):
        """Return the database name of the golden for ``fingerprint``."""
        return database_name("golden", fingerprint[:40])

    def golden_url(self, fingerprint):
        """Return the URL of the golden (read it; never write it)."""
        return self.url_of(self.golden_name(fingerprint))

    def _clone_name(self, fingerprint):
        """Return ``dbtk_clone_<fingerprint>_<host>_<pid>_<n>_<random>``."""
        return database_name("clone", fingerprint[:12], server_suffix())

    def kept_name(self, fingerprint):
        """Return a new, unique name for a kept clone of ``fingerprint``: time and random."""
        return database_name("kept", fingerprint[:12],
                             f"{time.strftime('%Y%m%d%H%M%S')}_{secrets.token_hex(3)}")

    # -- creating a database of ours: the frame and its hooks -----------------

    def _create(self, name, kind, fingerprint, template=None):
        """Create database ``name`` (a ``kind`` of ``fingerprint``), provably ours from before it exists.

        The intent is recorded before the CREATE and the marker set after it,
        so a process killed at any moment leaves a database reap knows as ours.
        """
        with self.admin.connect() as connection:
            self._record_intent(connection, name, kind, fingerprint)
            try:
                self._create_database(connection, name, template)
            except DBAPIError as error:
                self._forget_intent(connection, name)
                raise DbtestkitError(
                    f"Cannot create database {name} on {self.describe()}: {error.orig}"
                ) from error
            self._mark(connection, name, kind, fingerprint)

    @abc.abstractmethod
    def _record_intent(self, connection, name, kind, fingerprint):
        """Record, before the CREATE, that this process is about to create database ``name``."""

    @abc.abstractmethod
    def _create_database(self, connection, name, template):
        """Run the CREATE DATABASE of ``name`` (from ``template``, where the server copies one)."""

    @abc.abstractmethod
    def _forget_intent(self, connection, name):
        """Withdraw the intent of a CREATE that failed."""

    def _mark(self, connection, name, kind, fingerprint):
        """Mark the new database as ours, where the intent alone is not the record."""

    # -- dropping a database of ours ------------------------------------------

    def drop_clone(self, clone):
        """Drop a clone, ending connections a test left open."""
        self._drop_if_ours(clone.name)

    def delete_golden(self, name):
        """Drop one golden of ours (used by prune), under its fingerprint's build lock."""
        with self.build_lock(name[len(f"{PREFIX}_golden_"):]):
            self._drop_if_ours(name, kinds=("golden",))

    def delete_kept(self, kept):
        """Drop a kept clone ``list_kept`` reported (only ours: same rules as every drop)."""
        self._drop_if_ours(make_url(kept.location).database, kinds=("kept",))

    @abc.abstractmethod
    def _drop_if_ours(self, name, kinds=None):
        """Drop database ``name`` if it is provably ours (and one of ``kinds``); refuse anyone else's."""

    # -- leftovers ------------------------------------------------------------

    def leftover_clones(self):
        """Return the names of everything ``reap`` would remove (clones, builds, records)."""
        return [leftover.name for leftover in self.leftovers()]

    def reap(self):
        """Remove leftovers of dead processes and unfinished builds of ours; return their names."""
        reaped = []
        for leftover in self.leftovers():
            if self.stop_reaping:
                break
            if self._remove_leftover(leftover):
                reaped.append(leftover.name)
        return reaped

    @abc.abstractmethod
    def leftovers(self):
        """Return the ``Leftover`` databases and records of ours that ``reap`` removes."""

    @abc.abstractmethod
    def _remove_leftover(self, leftover):
        """Remove one leftover, deciding again under its lock; return whether it was removed."""


class Leftover(NamedTuple):
    """Something of ours a killed process left behind, as ``leftovers()`` reports it."""

    name: str
    kind: str  # clone, build, golden (unpublished), record (an intent or entry without database)
    fingerprint: str
    why: str


def foreign_message(name, owner):
    """Explain that ``name`` is not provably ours, and what the user can do about it."""
    return (
        f"database {name} was made by {owner}, not by this user; dbtestkit never uses or drops "
        "databases it cannot prove it created. If it is a leftover of yours, drop it yourself; "
        "otherwise connect as the user that made it"
    )


def quote(connection, identifier):
    """Quote ``identifier`` the way the dialect of ``connection`` does (always, whatever the name)."""
    return connection.dialect.identifier_preparer.quote_identifier(identifier)


def run_on_dbapi(dbapi_connection, statement, commit=False):
    """Run one statement on a raw DBAPI connection (``commit``: at once, so no rollback undoes it)."""
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(statement)
    finally:
        cursor.close()
    if commit:
        dbapi_connection.commit()


def epoch_of(iso_time):
    """Return the POSIX time of an ISO timestamp from a marker (0 when unreadable)."""
    try:
        return datetime.datetime.fromisoformat(iso_time).timestamp()
    except ValueError:
        return 0.0
