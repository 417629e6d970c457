"""What the server backends (PostgreSQL, MySQL) share: the admin connection and the marker."""

import json
import re

from dbtestkit.config import mask_url
from dbtestkit.exceptions import BackendUnavailable

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


def database_name(kind, fingerprint, suffix=""):
    """Return ``dbtk_<kind>_<fingerprint part>[_suffix]``, lower case, within 63 characters."""
    name = f"{PREFIX}_{kind}_{fingerprint}"
    if suffix:
        name += "_" + re.sub(r"[^a-z0-9_]", "_", suffix.lower())
    return name[:63]


class AdminConnection:
    """Connections to the database named in the user's URL, used only for server-wide DDL."""

    def __init__(self, url, product, start_hint):
        self.url = url
        self.product = product
        self.start_hint = start_hint
        self._engine = None

    @property
    def engine(self):
        """The autocommit engine on the user's URL (it never writes to that database)."""
        if self._engine is None:
            from sqlalchemy import create_engine

            self._engine = create_engine(self.url, isolation_level="AUTOCOMMIT", pool_size=2)
        return self._engine

    def connect(self):
        """Connect, turning a refused or failed login into a BackendUnavailable with advice."""
        from sqlalchemy.exc import DBAPIError

        try:
            return self.engine.connect()
        except DBAPIError as error:
            detail = str(getattr(error, "orig", error)).strip().splitlines()[0]
            if re.search(r"password|authentication|access denied", detail, re.IGNORECASE):
                advice = "check the user and password in the URL"
            else:
                advice = f"is the server running? {self.start_hint}"
            raise BackendUnavailable(
                f"Cannot connect to {self.product} at {mask_url(self.url)}: {detail}. "
                f"{advice[0].upper()}{advice[1:]}."
            ) from error

    def dispose(self):
        """Close pooled admin connections."""
        if self._engine is not None:
            self._engine.dispose()
