"""Inside one env.py run: apply single steps, read the schema, compare the models (for the migration checks)."""

import textwrap

from sqlalchemy.engine import make_url

from dbtestkit.config import mask_url
from dbtestkit.exceptions import ConfigurationError, DbtestkitError
from dbtestkit.migrations import driver
from dbtestkit.migrations.history import failure
from dbtestkit.migrations.snapshots import SchemaReader, describe_diff, flatten_diffs


class Migrator:
    """Applies single steps, reads the schema and compares models, inside one env.py run."""

    def __init__(self, history, context, injected, url, options, backend):
        self.history = history
        self.context = context
        self.connection = context.connection
        self.options = options
        # The step Alembic is running now, (revision, phase), for failure messages.
        self.running = None
        self._verified = False
        if self.connection is not injected and not _same_database(self.connection, url):
            raise DbtestkitError(
                f"env.py ({history.project.script_location / 'env.py'}) configured a connection "
                f"to {mask_url(str(self.connection.engine.url))}, not to the database dbtestkit "
                f"handed it ({mask_url(url)}); nothing was migrated. Make env.py use "
                "config.attributes['connection'] when it is set, or build its engine from "
                "config.get_main_option('sqlalchemy.url')."
            )
        version_table = context.opts.get("version_table") or "alembic_version"
        self.reader = SchemaReader(self.connection.dialect, backend, {version_table},
                                   options.ignore_tables)

    def up(self, revision, again=False):
        """Yield the upgrade step of ``revision`` to Alembic; resume once it is applied."""
        phase = "upgrade again after its downgrade" if again else "upgrade"
        yield from self._step(driver.upgrade_step(self.history.script, revision),
                              (revision, phase), revision.revision, True)

    def down(self, revision):
        """Yield the downgrade step of ``revision`` to Alembic; resume once it is applied."""
        yield from self._step(driver.downgrade_step(self.history.script, revision),
                              (revision, "downgrade"), revision.revision, False)

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
        diffs, code = driver.compare_models(self.connection, opts, metadata)
        if not diffs:
            return [], ""
        lines = [describe_diff(item, self.connection.dialect) for item in flatten_diffs(diffs)]
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
    mine, theirs = make_url(url), connection.engine.url
    return (mine.get_backend_name(), mine.host, mine.port, mine.database) == (
        theirs.get_backend_name(), theirs.host, theirs.port, theirs.database)
