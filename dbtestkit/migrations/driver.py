"""The one module that drives Alembic: configure it, load a history, upgrade to head, walk step by step, read heads.

Alembic itself is imported inside each function, on first use: the golden's
schema source imports this module on every start, and a warm start (the
golden is already built) must not pay the tens of milliseconds Alembic costs.
"""

import contextlib
import gc
import os
import sys
import types

from dbtestkit.exceptions import ConfigurationError, MigrationError, describe_error


def alembic_config(project, url=None, connection=None):
    """Return a fresh Alembic ``Config`` for ``project`` aimed at ``url`` and ``connection``.

    Without ``url`` the config serves to read the revision scripts only.
    """
    from alembic.config import Config

    config = Config(
        file_=str(project.ini_path) if project.ini_path else None,
        ini_section=project.section,
    )
    if project.ini_path is None:
        for key, value in project.options.items():
            if key != "here":
                config.set_main_option(key, value.replace("%", "%%"))
    # Set both: many env.py files ignore the injected connection and build
    # their own engine from sqlalchemy.url.
    if url is not None:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    if connection is not None:
        config.attributes["connection"] = connection
    config.attributes["dbtestkit"] = True
    return config


def script_directory(config):
    """Return Alembic's ``ScriptDirectory`` for ``config``, errors translated."""
    from alembic.script import ScriptDirectory
    from alembic.util import CommandError

    try:
        return ScriptDirectory.from_config(config)
    except CommandError as error:
        raise MigrationError(f"Alembic cannot load the migration scripts: {error}") from error


def upgrade_to_head(project, url, connection, on_revision=None, applied=()):
    """Run every migration up to head through ``connection``.

    Returns ``(heads, version_table, version_table_schema)``, the last two as
    env.py configured them. ``on_revision(done, total, label)`` is called
    after each applied revision. ``applied`` are graph nodes
    (``migrations.graph.Node``) of revisions the database already has:
    Alembic sees their ids, parents and labels, not their files.
    """
    from alembic.runtime.environment import EnvironmentContext

    config = alembic_config(project, url, connection)
    script = script_directory(config)
    with _known_without_loading(applied):
        plan = revisions_in_order(script, project)
    applied = []
    version_table = {"version_table": "alembic_version", "version_table_schema": None}

    def record_step(ctx, step, heads, run_args):
        applied.append(step.up_revision_id)
        if on_revision is not None:
            revision = script.get_revision(step.up_revision_id)
            on_revision(len(applied), len(plan), revision_label(revision))

    def upgrade(rev, context):
        return script._upgrade_revs("heads", rev)

    environment = EnvironmentContext(config, script, fn=upgrade, destination_rev="heads")
    configure = environment.configure

    # env.py calls context.configure(); wrap it on the instance (Alembic's
    # module proxy is keyed by class, so a subclass would not be seen) to add
    # our progress callback without asking users to change env.py.
    def configure_with_progress(*args, **kwargs):
        callbacks = tuple(kwargs.pop("on_version_apply", ()) or ())
        kwargs["on_version_apply"] = (*callbacks, record_step)
        for key in version_table:
            version_table[key] = kwargs.get(key, version_table[key])
        return configure(*args, **kwargs)

    environment.configure = configure_with_progress
    try:
        with environment:
            script.run_env()
    except KeyboardInterrupt:
        raise
    except BaseException as error:  # sys.exit() in a migration must not end the test run quietly
        raise _migration_failure(error, script, plan, applied, project) from error
    heads = tuple(sorted(script.get_heads()))
    return heads, version_table["version_table"], version_table["version_table_schema"]


@contextlib.contextmanager
def _known_without_loading(applied):
    """Let Alembic read the revision map without executing the files of ``applied`` revisions.

    Loading a history executes every revision file (a third of a build that
    applies one revision to 150); revisions already in the database only
    need their ids. Alembic loads each file through ``util.load_python_file``.
    """
    if not applied:
        yield
        return
    from alembic import util

    stubs = {os.path.realpath(node.path): node for node in applied}
    load = util.load_python_file

    def load_python_file(dir_, filename):
        node = stubs.get(os.path.realpath(os.path.join(dir_, filename)))
        return load(dir_, filename) if node is None else _stub_module(node)

    util.load_python_file = load_python_file
    try:
        yield
    finally:
        util.load_python_file = load


def _stub_module(node):
    module = types.ModuleType(f"dbtestkit_applied_{node.revision}")
    module.__file__ = node.path
    module.__doc__ = ""
    for name, value in node.values.items():
        setattr(module, name, value)

    def refuse():
        raise MigrationError(
            f"Revision {node.revision} ({node.path}) was expected in the database this golden "
            "grows from, but Alembic was about to run it. Please report it; delete the cache "
            "directory to build from empty."
        )

    module.upgrade = module.downgrade = refuse
    return module


def current_heads(connection, version_table, version_table_schema=None):
    """Return the revisions recorded in ``connection``'s version table, sorted."""
    from alembic.runtime.migration import MigrationContext

    context = MigrationContext.configure(
        connection,
        opts={"version_table": version_table, "version_table_schema": version_table_schema},
    )
    return tuple(sorted(context.get_current_heads()))


def walk(project, script, url, connection, migration_fn, sys_path=()):
    """Run env.py once on ``connection``; Alembic asks ``migration_fn(heads, context)`` for its steps.

    ``migration_fn`` returns an iterator of steps (``upgrade_step``,
    ``downgrade_step``): Alembic applies each before it asks for the next, so
    a caller may read the database between steps. ``sys_path`` is what
    prepend_sys_path put first on sys.path when the history was loaded.
    """
    from alembic.runtime.environment import EnvironmentContext

    config = alembic_config(project, url, connection)
    with _collect_only_new_objects():
        sys.path[:0] = sys_path
        with EnvironmentContext(config, script, fn=migration_fn):
            script.run_env()


def upgrade_step(script, revision):
    """Return the step that applies ``revision``'s upgrade, for a walk."""
    from alembic.runtime.migration import MigrationStep

    return MigrationStep.upgrade_from_script(script.revision_map, revision)


def downgrade_step(script, revision):
    """Return the step that applies ``revision``'s downgrade, for a walk."""
    from alembic.runtime.migration import MigrationStep

    return MigrationStep.downgrade_from_script(script.revision_map, revision)


def revisions_between(script, heads, destination, upgrade):
    """Return the revisions that go from ``heads`` to ``destination``, in the order they run.

    ``upgrade`` chooses the direction; ``destination`` is a revision id,
    ``"heads"``, ``"base"`` or relative (``"+1"``, ``"-1"``). A walk Alembic
    cannot make is a ConfigurationError giving Alembic's reason.
    """
    from alembic.script.revision import RevisionError
    from alembic.util import CommandError

    try:
        if upgrade:
            steps = script._upgrade_revs(destination, tuple(heads))
        else:
            steps = script._downgrade_revs(destination, tuple(heads) or None)
    except (CommandError, RevisionError) as error:
        raise ConfigurationError(str(error)) from error
    return [step.revision for step in steps]


def compare_models(connection, opts, metadata):
    """Return ``(differences, upgrade code)`` between ``metadata`` and the database (autogenerate).

    ``opts`` are MigrationContext options (env.py's, with ``target_metadata``
    and ``include_object``); the code is what ``alembic revision
    --autogenerate`` would write, or None when nothing differs.
    """
    from alembic.autogenerate import compare_metadata, produce_migrations, render_python_code
    from alembic.runtime.migration import MigrationContext

    context = MigrationContext.configure(connection, opts=opts)
    differences = compare_metadata(context, metadata)
    if not differences:
        return differences, None
    return differences, render_python_code(produce_migrations(context, metadata).upgrade_ops)


@contextlib.contextmanager
def _collect_only_new_objects():
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


def revision_label(revision):
    """Return the file name of a revision without ``.py``, as users know it."""
    if revision.path:
        return os.path.splitext(os.path.basename(revision.path))[0]
    return revision.revision


def _migration_failure(error, script, plan, applied, project):
    by_path = {os.path.realpath(r.path): r for r in plan if r.path}
    failing = None
    traceback = error.__traceback__
    while traceback is not None:
        filename = os.path.realpath(traceback.tb_frame.f_code.co_filename)
        failing = by_path.get(filename, failing)
        traceback = traceback.tb_next
    if failing is not None:
        return MigrationError(
            f"Migration {failing.revision} ({failing.path}) failed while building the golden "
            f"database: {describe_error(error)}. Fix the migration; the half-built "
            "golden was discarded.",
            revision=failing.revision,
        )
    env_py = project.script_location / "env.py"
    if applied:
        where = f"after {len(applied)} of {len(plan)} revisions were applied (last: {applied[-1]})"
    else:
        where = "before any migration ran"
    return MigrationError(
        f"{env_py} or Alembic's setup failed {where}: {describe_error(error)}. "
        "Fix env.py; the half-built golden was discarded."
    )


def revisions_in_order(script, project):
    """Load every revision file of ``script``; return the revisions from base to heads.

    A revision file that cannot be loaded (a SyntaxError, a failing import)
    is a MigrationError naming the file and line.
    """
    try:
        return list(reversed(list(script.walk_revisions("base", "heads"))))
    except KeyboardInterrupt:
        raise
    except BaseException as error:
        where = project.ini_path or project.script_location
        located = _revision_file_of(error, project)
        if located is None:
            raise MigrationError(
                f"Alembic cannot read the history in {where}: {describe_error(error)}"
            ) from error
        path, line, traceback = located
        if isinstance(error, SyntaxError):
            elsewhere = error.filename and os.path.realpath(error.filename) != path
            where_else = f" in {error.filename}, line {error.lineno}" if elsewhere else ""
            text = (error.text or "").strip()
            detail = f"SyntaxError{where_else}: {error.msg}" + (f"\n    {text}" if text else "")
        else:
            detail = describe_error(error)
        # Chained without Alembic's and importlib's frames: they would only bury the line.
        raise MigrationError(
            f"Revision file {path}, line {line}, cannot be loaded: {detail}\n"
            "Fix the file; no golden database was built."
        ) from error.with_traceback(traceback)


def _revision_file_of(error, project):
    """Return ``(path, line, traceback from that file on)`` of the revision file ``error`` comes from.

    The deepest frame in a versions folder (a revision's own import of a
    broken module); else, for a SyntaxError in the revision itself, its file.
    """
    folders = [os.path.realpath(location) + os.sep for location in project.version_locations]
    found = None
    traceback = error.__traceback__
    while traceback is not None:
        filename = os.path.realpath(traceback.tb_frame.f_code.co_filename)
        if any(filename.startswith(folder) for folder in folders):
            if found is None:
                found = [filename, traceback.tb_lineno, traceback]
            found[:2] = filename, traceback.tb_lineno
        traceback = traceback.tb_next
    if found is None and isinstance(error, SyntaxError) and error.filename:
        return os.path.realpath(error.filename), error.lineno, None
    return tuple(found) if found else None
