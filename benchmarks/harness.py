"""The shared benchmark harness: rows, interleaved rounds, medians, the one table of ratios.

A family module (isolation.py, servers.py, migrations.py) gives ``run.py``
groups of ``Strategy`` objects. Every strategy of every group runs in the
same rounds, in an order shuffled from round to round, so machine noise hits
all rows alike; a strategy that asks for fewer rounds runs in rounds spread
evenly over the run. See README.rst, "How it measures".
"""
import contextlib
import dataclasses
import gc
import io
import json
import math
import random
import statistics
import subprocess
import sys
import time


def now():
    """A point in time, for ``ms_since``."""
    return time.perf_counter_ns()


def ms_since(start):
    """Milliseconds since ``start`` (a ``now()``)."""
    return (time.perf_counter_ns() - start) / 1e6


def percentile(values, fraction):
    """Nearest-rank percentile of ``values``."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def median(values):
    """Median of ``values``, NaN when there are none."""
    return statistics.median(values) if values else float("nan")


def median_ms(func, repeat):
    """Median wall time of ``func()`` over ``repeat`` calls, in ms."""
    times = []
    for _ in range(repeat):
        start = now()
        func()
        times.append(ms_since(start))
    return statistics.median(times)


def quietly(func, *args):
    """Call ``func(*args)`` hiding its stderr (build progress), unless it fails."""
    captured = io.StringIO()
    try:
        with contextlib.redirect_stderr(captured):
            return func(*args)
    except BaseException:
        sys.stderr.write(captured.getvalue())
        raise


def json_runs(args, runs, env=None, cwd=None, untimed=1):
    """Run ``args`` ``untimed + runs`` times; return the last JSON line of each timed run."""
    results = []
    for i in range(untimed + runs):
        out = subprocess.run(args, check=True, capture_output=True, text=True, env=env, cwd=cwd)
        if i >= untimed:
            results.append(json.loads(out.stdout.strip().splitlines()[-1]))
    return results


@dataclasses.dataclass
class Row:
    """One line of the table: ``key`` names its samples within its group.

    ``baseline`` and ``floor`` are keys of rows of the same group: the table
    shows baseline/this (how many times cheaper than the naive way) and
    this/floor (what dbtestkit adds to the bare mechanism). ``max_floor``
    and ``min_baseline`` are targets on those ratios. A ``part`` row is a
    piece of a test (indented, no baseline ratio).
    """

    key: str
    label: str
    floor: str = None
    baseline: str = None
    max_floor: float = None
    min_baseline: float = None
    part: bool = False
    derived: bool = False


class Strategy:
    """One way of giving a test what it needs; ``run(n)`` returns ``{row key: [ms, ...]}``.

    Subclasses set ``key``, ``label`` and usually ``floor``/``baseline``, or
    override ``rows()`` when one run yields several rows; ``rounds`` is how
    many rounds of the run it takes part in (None: all of them).
    """

    key = ""
    label = ""
    floor = None
    baseline = None
    max_floor = None
    min_baseline = None
    rounds = None
    warmup = True  # False: skip the untimed warm-up round (rows that take minutes)

    def __init__(self, ctx):
        self.ctx = ctx
        # Timings of parts of the current test, {row key: ms}, that test() records.
        self.parts = {}

    def rows(self):
        """The ``Row`` of every key this strategy's ``run`` returns."""
        return [Row(self.key, self.label, self.floor, self.baseline, self.max_floor,
                    self.min_baseline)]

    def setup(self):
        """Prepare what is held across tests (not timed)."""

    def test(self, n):
        """One whole test: per-test setup, body, per-test teardown."""
        raise NotImplementedError

    def run(self, n):
        """Time test ``n``; return its samples (and those of its parts)."""
        self.parts = {}
        start = now()
        self.test(n)
        samples = {self.key: [ms_since(start)]}
        samples.update((key, [value]) for key, value in self.parts.items())
        return samples

    def close(self):
        """Release what setup() acquired (and check nothing leaked)."""


class Group:
    """A set of rows compared with each other (one size on one backend), with its context.

    ``title`` heads its block of the table; ``baseline_name`` labels its
    baseline/this column. A family subclasses it to prepare a context in
    ``open()``, list ``strategies()``, add ``derived_rows()`` computed from
    medians, print ``notes()`` under the table and yield ``targets()``.
    """

    title = ""
    baseline_name = "baseline"

    def open(self):
        """Prepare everything the strategies share (untimed)."""

    def strategies(self):
        """The strategies of this group, set up by the caller."""
        return []

    def after_warmup(self):
        """Called once the untimed warm-up round is over."""

    def derived_rows(self, medians):
        """Extra ``(Row, ms)`` computed from the measured medians (sums, totals): rows with ``derived=True``."""
        return []

    def notes(self, medians):
        """Lines printed under the table for this group."""
        return []

    def targets(self, medians):
        """``(description, measured text, met)`` for targets not tied to one row."""
        return []

    def close(self):
        """Drop what ``open()`` made; return the errors met on the way."""
        return []


def close_all(groups):
    """Close every group, even when one fails; return the errors, as text."""
    errors = []
    for group in reversed(groups):
        try:
            errors += group.close()
        except Exception as error:  # keep cleaning up; report at the end
            errors.append("%s: %s: %s" % (group.title, type(error).__name__, error))
    return errors


def spread(rounds, count):
    """``count`` round numbers spread evenly over ``rounds``."""
    count = max(1, min(count, rounds))
    return {i * rounds // count for i in range(count)}


def run_rounds(entries, rounds, after_warmup=(), progress=None, warmup=True):
    """Interleave ``(group, strategy)`` entries in shuffled rounds; return ``{(group, key): [ms]}``.

    Round -1 is an untimed warm-up (imports, statement caches, page cache),
    unless ``warmup`` is false.
    Shuffled, not rotated: a test runs measurably slower right after a
    heavy one, and rotating keeps each strategy's predecessor fixed.
    """
    samples = {}
    plan = [(group, strategy, spread(rounds, strategy.rounds) if strategy.rounds else None)
            for group, strategy in entries]
    rng = random.Random(len(entries) * 1000 + rounds)  # seeded: the same orders on reruns
    counter = 0
    started = time.perf_counter()
    for round_no in range(-1 if warmup else 0, rounds):
        gc.collect()  # so one strategy's garbage is not charged to the next
        order = list(plan)
        rng.shuffle(order)
        for group, strategy, chosen in order:
            if round_no < 0 and not strategy.warmup:
                continue
            if round_no >= 0 and chosen is not None and round_no not in chosen:
                continue
            counter += 1
            for key, values in strategy.run(counter).items():
                if round_no >= 0:
                    samples.setdefault((id(group), key), []).extend(values)
        if round_no == -1:
            for hook in after_warmup:
                hook()
        if progress and round_no >= 0 and (round_no + 1) % progress == 0:
            print("# round %d/%d after %.0f s" % (round_no + 1, rounds,
                                                  time.perf_counter() - started),
                  file=sys.stderr, flush=True)
    return samples


def ratio_text(value):
    """``158.5x`` or ``0.96x``: enough digits either side of 1."""
    if value != value:  # NaN
        return "-"
    return "%.1fx" % value if value >= 10 else "%.2fx" % value


def table_lines(group, rows):
    """Lines of one group's block, and its row-bound targets, from ``[(Row, [ms])]``."""
    medians = {row.key: median(values) for row, values in rows}
    labels = {row.key: row.label for row, _ in rows}
    lines, targets = [], []
    for row, values in rows:
        this = medians[row.key]
        base = ratio_text(medians[row.baseline] / this) if row.baseline and not row.part else "-"
        floor = ratio_text(this / medians[row.floor]) if row.floor else "-"
        p90 = "%10s" % "-" if row.derived else "%10.3f" % percentile(values, 0.9)
        label = ("  " if row.part else "") + row.label
        lines.append("  %-44s %5s %10.3f %s %13s %11s"
                     % (label, "" if row.derived else len(values), this, p90, base, floor))
        if row.max_floor is not None:
            ratio = this / medians[row.floor]
            targets.append(("%s: %s <= %.2fx of %s" % (group.title, row.label, row.max_floor,
                                                       labels[row.floor]),
                            ratio_text(ratio), ratio <= row.max_floor))
        if row.min_baseline is not None:
            ratio = medians[row.baseline] / this
            targets.append(("%s: %s >= %.0fx cheaper than %s" % (
                group.title, row.label, row.min_baseline, labels[row.baseline]),
                ratio_text(ratio), ratio >= row.min_baseline))
    return lines, targets, medians


def print_report(groups, samples):
    """Print the one table (a block per group), the notes, then every target with its verdict."""
    print("  %-44s %5s %10s %10s %13s %11s"
          % ("row", "n", "median ms", "p90 ms", "baseline/this", "this/floor"))
    print("-" * 100)
    all_targets, notes = [], []
    for group in groups:
        rows = [(row, samples.get((id(group), row.key), []))
                for strategy in group.strategies() for row in strategy.rows()]
        measured = {row.key: median(values) for row, values in rows}
        rows += [(row, [value]) for row, value in group.derived_rows(measured)]
        print("%s   (baseline: %s)" % (group.title, group.baseline_name))
        lines, targets, medians = table_lines(group, rows)
        for line in lines:
            print(line)
        print()
        all_targets += targets + list(group.targets(medians))
        notes += [(group.title, group.notes(medians))]
    for title, lines in notes:
        if lines:
            print("%s:" % title)
            for line in lines:
                print("  " + line)
            print()
    print("Targets:")
    for description, measured, met in all_targets:
        print("  %-96s %8s  %s" % (description, measured, "met" if met else "MISSED"))
    return all(met for _, _, met in all_targets)
