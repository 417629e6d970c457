"""An Alembic history loaded once (revisions, heads, readable names), and how a check failure reads."""

import os
import sys
import textwrap
import traceback
import weakref

from dbtestkit.exceptions import describe_error
from dbtestkit.migrations import driver
from dbtestkit.process_state import preserved


NOT_IMPLEMENTED_HINT = (
    "If downgrades at and below this revision are intentionally not written, say so: "
    "minimum_downgrade_revision = {revision!r}."
)


def failure(title, *sections):
    """Return the AssertionError a check raises: ``title``, then ``(heading, body)`` sections, indented."""
    lines = [title]
    for heading, body in sections:
        lines += ["", f"{heading}:", textwrap.indent(body.rstrip(), "    ")]
    return AssertionError("\n".join(lines))


def first_line(error):
    """Return ``Type: first line of the message``."""
    return describe_error(error).strip().splitlines()[0]


# -- the history ---------------------------------------------------------------------------------


_histories = weakref.WeakKeyDictionary()


class History:
    """An Alembic history loaded once: revisions in upgrade order, heads, readable names."""

    def __init__(self, project):
        self.project = project
        self.root = project.ini_path.parent if project.ini_path else project.script_location.parent
        self.where = str(project.ini_path or project.script_location)
        # Loading a revision runs its module code (often the application's imports).
        with preserved():
            before = sys.path[:]
            self.script = driver.script_directory(driver.alembic_config(project))
            # What Alembic's prepend_sys_path put first on sys.path, for each run of env.py.
            self.sys_path = sys.path[:len(sys.path) - len(before)]
            self.revisions = driver.revisions_in_order(self.script, project)
        self.heads = tuple(self.script.get_heads())

    @classmethod
    def of(cls, project):
        """Return the history of ``project``, loading it on first use."""
        if project not in _histories:
            _histories[project] = cls(project)
        return _histories[project]

    @staticmethod
    def loaded(project):
        """Tell whether the history of ``project`` is loaded in this process already."""
        return project in _histories

    @staticmethod
    def forget_all():
        """Forget every loaded history: the next check loads its revisions again, as a new process would."""
        _histories.clear()

    def find(self, name):
        """Return the revision whose id or file label is ``name``, or None."""
        for revision in self.revisions:
            if name in (revision.revision, self.label(revision)):
                return revision
        return None

    def label(self, revision):
        """Return the file name of ``revision`` without ``.py``."""
        return driver.revision_label(revision)

    def path_of(self, revision):
        """Return the revision's file, relative to the project folder when inside it."""
        path = os.path.abspath(revision.path)
        relative = os.path.relpath(path, self.root)
        return path if relative.startswith("..") else relative

    def describe(self, revision):
        """Return ``label (path)``, how failures name a revision."""
        return f"{self.label(revision)} ({self.path_of(revision)})"

    def summary(self):
        """Return the first and last revision ids, for error messages."""
        if not self.revisions:
            return "none"
        ids = [r.revision for r in self.revisions]
        return ", ".join(ids) if len(ids) <= 6 else f"{', '.join(ids[:3])}, …, {', '.join(ids[-2:])}"

    def step_failure(self, step, error):
        """Return the AssertionError for ``error`` raised while ``step`` ran."""
        revision, phase = step
        sections = []
        location = _location(error, revision.path)
        if location:
            sections.append(("Where", f"{self.path_of(revision)}, {location}"))
        details = str(error).strip().splitlines()[1:]
        if details:
            sections.append(("Details", "\n".join(details)))
        if isinstance(error, NotImplementedError) and phase == "downgrade":
            raiser = _raising_frame(error)
            if raiser is not None and _same_file(raiser.filename, revision.path):
                sections.append(("Fix", NOT_IMPLEMENTED_HINT.format(revision=revision.revision)))
            elif raiser is not None:
                # Alembic's "No support for ALTER of constraints in SQLite dialect" is
                # a bug in the downgrade, not a downgrade left out on purpose.
                sections.append(("Raised by", f"{raiser.filename}, line {raiser.lineno}, in "
                                              f"{raiser.name}; not by the revision itself, so this "
                                              "is an error in its downgrade, not a downgrade left "
                                              "out on purpose."))
        return failure(
            f"Revision {self.describe(revision)} failed to {phase}: {first_line(error)}",
            *sections,
        )


def _raising_frame(error):
    frames = traceback.extract_tb(error.__traceback__)
    return frames[-1] if frames else None


def _same_file(a, b):
    return os.path.realpath(a) == os.path.realpath(b)


def _location(error, path):
    frames = [f for f in traceback.extract_tb(error.__traceback__) if _same_file(f.filename, path)]
    if not frames:
        return None
    frame = frames[-1]
    return f"line {frame.lineno}, in {frame.name}: {(frame.line or '').strip()}"
