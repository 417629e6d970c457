"""Steps that load a golden: seed data after its schema, or setup before it; callables or .sql files."""

import inspect
from pathlib import Path

from dbtestkit.exceptions import ConfigurationError


class Seed:
    """One seed: a callable taking a Connection, or the path of a .sql file."""

    def __init__(self, source):
        if callable(source):
            self.function, self.path = source, None
        elif isinstance(source, (str, Path)) and str(source).endswith(".sql"):
            self.function, self.path = None, Path(source).resolve()
            if not self.path.is_file():
                raise ConfigurationError(f"Seed file {self.path} does not exist.")
        else:
            raise ConfigurationError(
                f"Seed {source!r} is neither a callable taking a Connection nor a .sql file path."
            )

    @property
    def identity(self):
        """Return a stable name for this seed, for messages and the fingerprint."""
        if self.path is not None:
            # The file name, not the full path: checkouts in other folders
            # must share a fingerprint.
            return self.path.name
        function = self.function
        return f"{getattr(function, '__module__', '?')}.{getattr(function, '__qualname__', repr(function))}"

    @property
    def short_name(self):
        """Return the seed's file or function name alone, for labels."""
        if self.path is not None:
            return self.path.stem
        return getattr(self.function, "__name__", "seed")

    def source_bytes(self):
        """Return the bytes that define what this seed inserts."""
        if self.path is not None:
            return self.path.read_bytes()
        try:
            return inspect.getsource(self.function).encode("utf-8")
        except (OSError, TypeError):
            # Without source (a builtin, a lambda in a REPL) the identity alone has to do.
            return b""

    def fingerprint_parts(self):
        """Return the fingerprint parts of this seed."""
        return [(f"seed:{self.identity}", self.source_bytes())]

    def run(self, connection, backend):
        """Load this seed through ``connection``."""
        if self.function is not None:
            self.function(connection)
        else:
            backend.run_sql_script(connection, self.path.read_text(encoding="utf-8"))
