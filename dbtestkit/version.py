"""The version of dbtestkit (a part of every fingerprint)."""

__version__ = "0.1.0"
