"""Walking an Alembic history one step at a time through one connection (for the migration checks)."""

import contextlib
import gc
import os
import sys
import textwrap
import traceback
import weakref

from dbtestkit.exceptions import ConfigurationError, DbtestkitError
from dbtestkit.process_state import preserved
from dbtestkit.migrations.snapshots import SchemaReader, describe_diff, flatten_diffs


NOT_IMPLEMENTED_HINT = (
    "If downgrades at and below this revision are intentionally not written, say so: "
    "minimum_downgrade_revision = {revision!r}."
)


def failure(title, *sections):
    lines = [title]
    for heading, body in sections:
        lines += ["", f"{heading}:", textwrap.indent(body.rstrip(), "    ")]
    return AssertionError("\n".join(lines))


@contextlib.contextmanager
def collect_only_new_objects():
    # A walk allocates hundreds of thousands of short-lived SQLAlchemy objects;
    # each full collection they trigger would scan the whole heap (models,
    # loaded revisions, the test suite): 10-15% of a long walk. Frozen
    # objects are skipped by the collector until unfrozen; new garbage is
    # still collected. A process that froze objects itself is left alone.
    if gc.get_freeze_count():
        yield
        return
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def first_line(error):
    """Return ``Type: first line of the message``."""
    from dbtestkit.migrations.driver import describe_error

    return describe_error(error).strip().splitlines()[0]


# -- the history ---------------------------------------------------------------------------------


_histories = weakref.WeakKeyDictionary()


class History:
    """An Alembic history loaded once: revisions in upgrade order, heads, readable names."""

    def __init__(self, project):
        from dbtestkit.migrations.driver import alembic_config, revisions_in_order, script_directory

        self.project = project
        self.root = project.ini_path.parent if project.ini_path else project.script_location.parent
        self.where = str(project.ini_path or project.script_location)
        # Loading a revision runs its module code (often the application's imports).
        with preserved():
            before = sys.path[:]
            self.script = script_directory(alembic_config(project, "sqlite://"))
            # What Alembic's prepend_sys_path put first on sys.path, for each run of env.py.
            self.sys_path = sys.path[:len(sys.path) - len(before)]
            self.revisions = revisions_in_order(self.script, project)
        self.heads = tuple(self.script.get_heads())

    @classmethod
    def of(cls, project):
        """Return the history of ``project``, loading it on first use."""
        if project not in _histories:
            _histories[project] = cls(project)
        return _histories[project]

    def find(self, name):
        """Return the revision whose id or file label is ``name``, or None."""
        for revision in self.revisions:
            if name in (revision.revision, self.label(revision)):
                return revision
        return None

    def label(self, revision):
        """Return the file name of ``revision`` without ``.py``."""
        from dbtestkit.migrations.driver import revision_label

        return revision_label(revision)

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


# -- inside one env.py run ------------------------------------------------------------------------


class Migrator:
    """Applies single steps, reads the schema and compares models, inside one env.py run."""

    def __init__(self, history, context, injected, url, options):
        self.history = history
        self.context = context
        self.connection = context.connection
        self.options = options
        # The step Alembic is running now, (revision, phase), for failure messages.
        self.running = None
        self._verified = False
        if self.connection is not injected and not _same_database(self.connection, url):
            from dbtestkit.config import mask_url

            raise DbtestkitError(
                f"env.py ({history.project.script_location / 'env.py'}) configured a connection "
                f"to {mask_url(str(self.connection.engine.url))}, not to the database dbtestkit "
                f"handed it ({mask_url(url)}); nothing was migrated. Make env.py use "
                "config.attributes['connection'] when it is set, or build its engine from "
                "config.get_main_option('sqlalchemy.url')."
            )
        version_table = context.opts.get("version_table") or "alembic_version"
        self.reader = SchemaReader(self.connection.dialect, {version_table},
                                   options.ignore_tables)

    def up(self, revision, again=False):
        """Yield the upgrade step of ``revision`` to Alembic; resume once it is applied."""
        from alembic.runtime.migration import MigrationStep

        phase = "upgrade again after its downgrade" if again else "upgrade"
        yield from self._step(MigrationStep.upgrade_from_script(
            self.history.script.revision_map, revision), (revision, phase), revision.revision, True)

    def down(self, revision):
        """Yield the downgrade step of ``revision`` to Alembic; resume once it is applied."""
        from alembic.runtime.migration import MigrationStep

        yield from self._step(MigrationStep.downgrade_from_script(
            self.history.script.revision_map, revision), (revision, "downgrade"), revision.revision, False)

    def _step(self, step, running, revision_id, present):
        self.running = running
        yield step
        self.running = None
        if self._verified:
            return
        # Alembic applies a step before it asks for the next one: everything
        # here relies on that, so make sure of it once (a query per step would
        # cost a tenth of a walk).
        self._verified = True
        if (revision_id in self.context.get_current_heads()) != present:
            raise DbtestkitError(
                f"Alembic did not record the {running[1]} of {revision_id} in the version table "
                "before asking for the next step; this Alembic version does not run steps one "
                "at a time, which the migration checks rely on. Please report it."
            )

    def expect_heads(self, heads):
        """Fail unless the version table records exactly ``heads``."""
        actual = tuple(sorted(self.context.get_current_heads()))
        if actual != tuple(sorted(heads)):
            raise failure(f"After the walk the database is at {actual or 'base'}, "
                           f"not at head {tuple(sorted(heads))}.")

    def snapshot(self, lazy=False):
        """Read the current schema (only tables changed since the last read are reflected)."""
        return self.reader.snapshot(self.connection, lazy)

    def reflect(self, snapshot, names):
        """Read the shapes of ``names`` into ``snapshot``, taken since the last step."""
        self.reader.reflect(self.connection, snapshot, names)

    def compare_models(self, options):
        """Return ``(readable differences, rendered upgrade)`` between the models and the schema."""
        from alembic.autogenerate import compare_metadata, produce_migrations, render_python_code
        from alembic.runtime.migration import MigrationContext

        env_opts = self.context.opts
        metadata = options.metadata if options.metadata is not None else env_opts.get("target_metadata")
        if metadata is None:
            raise ConfigurationError(
                "model_definitions_match_ddl has no models to compare: set `metadata = "
                "Base.metadata` on the test class, or target_metadata in env.py "
                f"({self.history.project.script_location / 'env.py'})."
            )
        opts = {key: value for key, value in env_opts.items() if key != "fn"}
        opts["target_metadata"] = metadata
        opts["include_object"] = self._include_object(env_opts.get("include_object"), options)
        opts.setdefault("compare_type", True)
        # Server defaults compare as text ("0" vs "'0'::integer") and are the
        # main source of false positives; env.py may still ask for them.
        opts.setdefault("compare_server_default", False)
        context = MigrationContext.configure(self.connection, opts=opts)
        diffs = compare_metadata(context, metadata)
        if not diffs:
            return [], ""
        lines = [describe_diff(item, self.connection.dialect) for item in flatten_diffs(diffs)]
        code = render_python_code(produce_migrations(context, metadata).upgrade_ops)
        # Drop Alembic's "# ### commands auto generated" banner lines and their odd indentation.
        code = "\n".join(line for line in code.splitlines() if not line.lstrip().startswith("# ###"))
        return lines, textwrap.dedent(code)

    def _include_object(self, env_hook, options):
        ignored = self.reader.ignored

        def include_object(obj, name, type_, reflected, compare_to):
            if type_ == "table" and ignored(name):
                return False
            if env_hook is not None and not env_hook(obj, name, type_, reflected, compare_to):
                return False
            if options.include_object is not None:
                return bool(options.include_object(obj, name, type_, reflected, compare_to))
            return True

        return include_object


def _same_database(connection, url):
    from sqlalchemy.engine import make_url

    mine, theirs = make_url(url), connection.engine.url
    return (mine.get_backend_name(), mine.host, mine.port, mine.database) == (
        theirs.get_backend_name(), theirs.host, theirs.port, theirs.database)
