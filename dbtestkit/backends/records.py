"""What backends report and record: golden records and listings, kept clones, builds in progress."""

from dataclasses import dataclass
from typing import NamedTuple


class GoldenListing(NamedTuple):
    """One published golden, as ``list_goldens`` reports it."""

    fingerprint: str  # the whole fingerprint, or the prefix a server name holds
    location: object  # a path (SQLite) or a database name
    size: int
    built: float  # POSIX time
    label: str  # the TestDatabase name (project) that built it


class KeptClone(NamedTuple):
    """A clone kept for inspection after its test failed, as ``list_kept`` reports it."""

    location: str  # a file path (SQLite) or a database URL with the password masked
    test_id: str  # the id of the test that failed (unittest's ``TestCase.id()``)
    kept_at: float  # POSIX time
    label: str  # the TestDatabase name (project) whose clone it was


@dataclass
class GoldenRecord:
    """What a golden says about itself, and what it actually holds."""

    fingerprint: str = ""
    heads: tuple = ()
    version_table: "str | None" = None
    dbtestkit_version: str = ""
    built_at: str = ""
    label: str = ""
    # The golden this one was grown from (incremental build), "" when built from empty.
    parent: str = ""
    actual_heads: tuple = ()
    problem: "str | None" = None
    # Made by someone else: never used, never dropped.
    foreign: bool = False

    def as_rows(self):
        """Return the record as ``(key, value)`` string pairs for storage."""
        return [
            ("fingerprint", self.fingerprint),
            ("heads", " ".join(self.heads)),
            ("version_table", self.version_table or ""),
            ("dbtestkit_version", self.dbtestkit_version),
            ("built_at", self.built_at),
            ("label", self.label),
            ("parent", self.parent),
        ]

    @classmethod
    def from_rows(cls, rows, actual_heads=()):
        """Rebuild a record from stored ``(key, value)`` pairs."""
        values = dict(rows)
        return cls(
            fingerprint=values.get("fingerprint", ""),
            heads=tuple(values.get("heads", "").split()),
            version_table=values.get("version_table") or None,
            dbtestkit_version=values.get("dbtestkit_version", ""),
            built_at=values.get("built_at", ""),
            label=values.get("label", ""),
            parent=values.get("parent", ""),
            actual_heads=tuple(sorted(actual_heads)),
        )

    def mismatch(self, fingerprint):
        """Return why this golden cannot be trusted for ``fingerprint``, or None."""
        if self.problem:
            return self.problem
        if self.fingerprint != fingerprint:
            return f"it records fingerprint {self.fingerprint[:12] or 'none'}"
        if tuple(sorted(self.heads)) != self.actual_heads:
            return f"it records heads {self.heads} but holds {self.actual_heads}"
        return None


@dataclass
class BuildTarget:
    """A database being built under a temporary name."""

    url: str
    name: str
    location: object = None
    # What the golden will say about itself, set once the build is complete.
    record: "GoldenRecord | None" = None
