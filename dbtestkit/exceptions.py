"""The dbtestkit error tree: one base class, one subclass per kind of failure."""


class DbtestkitError(Exception):
    """Base class of every error dbtestkit raises."""


class ConfigurationError(DbtestkitError):
    """The settings given to dbtestkit are missing, contradictory or invalid."""


class SetUpNotCalled(ConfigurationError, AttributeError):
    """A test used ``self.session`` (or another per-test attribute) that ``setUp`` did not set.

    Also an AttributeError, so ``hasattr()`` and ``getattr(..., default)`` keep working.
    """


class BackendUnavailable(DbtestkitError):
    """The database server or its driver cannot be used."""


class MigrationError(DbtestkitError):
    """Building the golden database from the migrations failed."""

    def __init__(self, message, revision=None):
        super().__init__(message)
        self.revision = revision


class GoldenMismatch(DbtestkitError):
    """A golden database cannot be trusted: changed since it was published, or made by someone else."""


class IsolationBroken(DbtestkitError):
    """A test ended the transaction that isolates it from other tests."""


class ConnectionLost(IsolationBroken):
    """The server ended the connection a savepoint-mode test ran on."""


class CloneNotShareable(DbtestkitError):
    """A SQLite clone's URL was needed while its only connection held what another connection cannot see."""


class LockWaitTimeout(DbtestkitError):
    """Another connection of a savepoint-mode test gave up waiting for a lock the test holds."""


def describe_error(error):
    """Return ``Type: message`` for an error raised by a migration, seed or env.py."""
    if isinstance(error, SystemExit):
        return (f"SystemExit: sys.exit({error.code!r}) was called, which would have ended the "
                "test run; raise an exception instead")
    return f"{type(error).__name__}: {error}"
