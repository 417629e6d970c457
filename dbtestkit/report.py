"""The one channel through which the library tells a human something.

env.py files commonly call ``logging.config.fileConfig()``, which disables
existing loggers, so messages that matter (build progress, where a failed
test's clone was kept) go straight to stderr instead of through logging.
"""

import sys


def report(message):
    """Write one ``dbtestkit:`` line to stderr."""
    stream = sys.stderr
    stream.write(f"dbtestkit: {message}\n")
    stream.flush()
