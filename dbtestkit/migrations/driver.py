"""The Alembic glue: upgrade an injected connection to head, reporting each revision.

Imported only when a golden must be built, so a warm start never imports Alembic.
"""

import os

from dbtestkit.exceptions import MigrationError


def alembic_config(project, url, connection=None):
    """Return a fresh Alembic ``Config`` for ``project`` aimed at ``url`` and ``connection``."""
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


def upgrade_to_head(project, url, connection, on_revision=None):
    """Run every migration up to head through ``connection``.

    Returns ``(heads, version_table, version_table_schema)``, the last two as
    env.py configured them. ``on_revision(done, total, label)`` is called
    after each applied revision.
    """
    from alembic.runtime.environment import EnvironmentContext

    config = alembic_config(project, url, connection)
    script = script_directory(config)
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


def current_heads(connection, version_table, version_table_schema=None):
    """Return the revisions recorded in ``connection``'s version table, sorted."""
    from alembic.runtime.migration import MigrationContext

    context = MigrationContext.configure(
        connection,
        opts={"version_table": version_table, "version_table_schema": version_table_schema},
    )
    return tuple(sorted(context.get_current_heads()))


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


def describe_error(error):
    """Return ``Type: message`` for an error raised by a migration, seed or env.py."""
    if isinstance(error, SystemExit):
        return (f"SystemExit: sys.exit({error.code!r}) was called, which would have ended the "
                "test run; raise an exception instead")
    return f"{type(error).__name__}: {error}"


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


def expected_heads(project):
    """Return the head revisions of ``project``'s history."""
    config = alembic_config(project, "sqlite://")
    return tuple(sorted(script_directory(config).get_heads()))
