"""What a PostgreSQL clone costs: the CREATE DATABASE strategy chosen per golden by timing, and the settings that slow it.

``CREATE DATABASE … TEMPLATE`` copies the template either by writing it
through the WAL (WAL_LOG, the default since 15) or by copying its files
after a checkpoint (FILE_COPY). Which is faster depends on the template's
size, the file system and the server's settings, so the first clones of
each golden are made with each strategy in turn and timed, and the faster
strategy is recorded in the golden's marker beside its record. The clones
timed are the ones the tests asked for: measuring costs no extra database,
and a golden that is cloned less than that never pays for a slow strategy
more than once.
"""

import contextlib
import threading
import time

from sqlalchemy.exc import DBAPIError

from dbtestkit.backends.postgresql_catalog import database_row, literal
from dbtestkit.backends.server import database_name, marker_text, parse_marker, quote

STRATEGIES = ("WAL_LOG", "FILE_COPY")
GOLDEN_NAMES = database_name("golden", "")
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

    def _init_clone_costs(self):
        self._measured = {}  # golden name -> its recorded choice (or None)
        self._trials = {}  # golden name -> [clones started, {strategy: [milliseconds]}]
        self._trials_lock = threading.Lock()  # the pool's threads clone too

    def _strategy_for(self, template):
        """Return ``(strategy or None, timed)`` for a clone of ``template``: fixed, recorded, or one to time."""
        if self.strategy:
            return self.strategy, False
        if not template.startswith(GOLDEN_NAMES) or self.server_version < 150000:
            return None, False  # a snapshot or a build's parent: the server's default
        measured = self._recorded_choice(template)
        if measured:
            return measured["chosen"], False
        with self._trials_lock:
            trial = self._trials.setdefault(template, [0, {}])
            if trial[0] >= ROUNDS * len(STRATEGIES):
                return None, False  # every timing is under way; the server's default meanwhile
            strategy = STRATEGIES[trial[0] % len(STRATEGIES)]
            trial[0] += 1
            return strategy, True

    def _timed(self, template, strategy, milliseconds):
        """Note what a timed clone of ``template`` cost; once every strategy is timed, record the faster."""
        with self._trials_lock:
            costs = self._trials[template][1]
            costs.setdefault(strategy, []).append(milliseconds)
            if any(len(costs.get(s, ())) < ROUNDS for s in STRATEGIES):
                return
            # The best of each: the first CREATE after a build may pay for a checkpoint.
            measured = choice({s: min(times) for s, times in costs.items()})
            self._measured[template] = measured
        with contextlib.suppress(DBAPIError), self.admin.connect() as connection:
            row = database_row(connection, template)
            fields = parse_marker(row.comment if row else None)
            if not fields or fields.get("kind") != "golden":
                return  # dropped or replaced meanwhile: nothing to record on
            fields["clone_strategy"] = measured
            kind = fields.pop("kind")
            connection.exec_driver_sql(
                f"COMMENT ON DATABASE {quote(connection, template)} IS {literal(marker_text(kind, **fields))}"
            )

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
