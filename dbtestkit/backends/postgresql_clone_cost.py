"""What a PostgreSQL clone costs: the CREATE DATABASE strategy chosen per golden by timing, and the settings that slow it.

``CREATE DATABASE … TEMPLATE`` copies the template either by writing it
through the WAL (WAL_LOG, the default since 15) or by copying its files
after a checkpoint (FILE_COPY). Which is faster depends on the template's
size, the file system and the server's settings, so each golden is cloned
once with each right after it is published, and the faster strategy is
recorded in the golden's marker beside its record.
"""

import time

from dbtestkit.backends.postgresql_catalog import database_row, literal
from dbtestkit.backends.server import marker_text, parse_marker, quote

STRATEGIES = ("WAL_LOG", "FILE_COPY")
# Each strategy is timed this many times, alternating, and its best time kept:
# the first CREATE after a build pays for a checkpoint whichever strategy it uses.
ROUNDS = 2
# Settings that make every clone wait for the disk: (setting, value that is slow, advice).
SLOW_SETTINGS = (
    ("fsync", "on", "each clone is flushed to disk; a server only for tests can run with fsync = off"),
    ("synchronous_commit", "on", "each commit waits for the WAL flush; "
                                 "synchronous_commit = off is safe enough for tests"),
    ("full_page_writes", "on", "WAL_LOG clones write whole pages twice; full_page_writes = off for a test server"),
)


def measure(create, drop, name_of):
    """Time ``create(name, strategy)`` for every strategy; return ``{strategy: best milliseconds}``.

    ``drop(name)`` removes each measured clone; ``name_of()`` gives a new clone name.
    """
    costs = {}
    for _ in range(ROUNDS):
        for strategy in STRATEGIES:
            name = name_of()
            began = time.perf_counter()
            create(name, strategy)
            elapsed = (time.perf_counter() - began) * 1000
            drop(name)
            costs[strategy] = min(costs.get(strategy, elapsed), elapsed)
    return costs


def choice(costs):
    """Return the measured choice as stored in a golden's marker."""
    chosen = min(costs, key=costs.get)
    return {"chosen": chosen, "costs_ms": {strategy: round(ms, 1) for strategy, ms in costs.items()}}


def recorded_choice(comment):
    """Return the measured choice a golden's marker holds, or None (older goldens, or not measured)."""
    fields = parse_marker(comment) or {}
    measured = fields.get("clone_strategy")
    if not isinstance(measured, dict) or measured.get("chosen") not in STRATEGIES:
        return None
    return measured


def describe_choice(measured):
    """Return one line about a golden's clone strategy and what each strategy cost."""
    if measured is None:
        return "not measured (a golden built before dbtestkit measured strategies, or none yet)"
    costs = ", ".join(f"{s} {ms} ms" for s, ms in sorted(measured["costs_ms"].items()))
    return f"{measured['chosen']}, the faster when measured ({costs})"


def advice(settings, measured=None, strategies=True):
    """Return ``(topic, state, advice)`` lines about what makes clones slow on this server.

    ``settings`` maps setting names to the server's values (``SHOW``);
    ``measured`` is the current golden's recorded choice; ``strategies``
    whether the server has any to choose from (15 and later).
    """
    lines = []
    for setting, slow, tip in SLOW_SETTINGS:
        value = settings.get(setting)
        if value is not None:
            lines.append((setting, value, tip if value == slow else "fine for clones"))
    method = settings.get("file_copy_method")
    if method is not None:
        lines.append(("file_copy_method", method, "fine for clones" if method == "clone" else
                      "on a file system with reflinks (XFS, Btrfs) file_copy_method = clone makes "
                      "FILE_COPY clones nearly free"))
    if strategies:
        lines.append(("clone strategy", describe_choice(measured),
                      "chosen per golden by timing both once" if measured else "dbtestkit prune, then build"))
    return lines


class CloneCosts:
    """The PostgreSQL backend's part that measures, records and reports what its clones cost."""

    def _measure_strategies(self, fingerprint):
        """Time a clone of the new golden with each strategy; record the faster one in its marker."""
        golden = self.golden_name(fingerprint)

        def create(name, strategy):
            self._trying[name] = strategy
            try:
                self._create(name, "clone", fingerprint, template=golden)
            finally:
                del self._trying[name]

        costs = measure(create, self._drop_if_ours, lambda: self._clone_name(fingerprint))
        with self.admin.connect() as connection:
            fields = parse_marker(database_row(connection, golden).comment) or {}
            fields["clone_strategy"] = choice(costs)
            kind = fields.pop("kind", "golden")
            connection.exec_driver_sql(
                f"COMMENT ON DATABASE {quote(connection, golden)} IS {literal(marker_text(kind, **fields))}"
            )
        self._measured.pop(golden, None)

    def _recorded_choice(self, golden):
        if golden not in self._measured:
            row = self._database_row(golden)
            self._measured[golden] = recorded_choice(row.comment) if row else None
        return self._measured[golden]

    def clone_advice(self, fingerprint):
        """Return ``(topic, state, advice)`` lines on what makes clones slow here (``dbtestkit status``)."""
        names = [setting for setting, _, _ in SLOW_SETTINGS]
        if self.server_version >= 180000:
            names.append("file_copy_method")
        with self.admin.connect() as connection:
            settings = {name: connection.exec_driver_sql(f"SHOW {name}").scalar() for name in names}
        return advice(settings, self._recorded_choice(self.golden_name(fingerprint)),
                      strategies=self.server_version >= 150000)
