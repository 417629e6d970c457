"""Schema sources of a golden: an Alembic history or a ``MetaData``; each builds and checks its schema."""

from typing import NamedTuple

from sqlalchemy.schema import CreateIndex, CreateTable

from dbtestkit.exceptions import MigrationError
from dbtestkit.golden.fingerprint import file_parts
from dbtestkit.migrations import driver
from dbtestkit.migrations.graph import Unsure, prefixes, read_node
from dbtestkit.migrations.project import AlembicProject


class BuildResult(NamedTuple):
    """What a schema build leaves behind: the heads and where they are recorded."""

    heads: tuple = ()
    version_table: "str | None" = None
    version_table_schema: "str | None" = None


class AlembicSource:
    """A golden schema built by running an Alembic history to head."""

    def __init__(self, project):
        self.project = project
        self.label = project.script_location.parent.name

    @classmethod
    def from_ini(cls, path, origin=None):
        """Describe the history behind an alembic.ini path (``origin``: where it was set)."""
        return cls(AlembicProject(path, origin=origin))

    @classmethod
    def from_config(cls, config):
        """Describe the history behind an ``alembic.config.Config``."""
        return cls(AlembicProject.from_config(config))

    def fingerprint_parts(self, dialect):
        """Return the parts of the fingerprint this schema contributes (``dialect()``: not needed)."""
        return self._parts(self.project.source_files())

    def _parts(self, files):
        options = [(f"option:{key}", value) for key, value in self.project.schema_options()]
        return [("schema", "alembic"), *options, *file_parts(files)]

    def prefix_parts(self, dialect):
        """Yield ``(parts, heads, revisions)`` for each earlier state of the history a golden can grow from, longest first.

        ``parts`` are the fingerprint parts this source contributed when the
        history held only that prefix's revision files (every other file,
        env.py first, unchanged). Nothing when the graph cannot be read with
        certainty from the files' source (``migrations.graph``).
        """
        files = list(self.project.source_files())
        try:
            nodes = []
            for _, path in files[1:]:
                with open(path, "rb") as source:
                    node = read_node(source.read(), path)
                if node is not None:
                    nodes.append(node)
            candidates = prefixes(nodes)
        except Unsure:
            return
        revision_files = {node.path for node in nodes}
        for kept, heads in candidates:
            paths = {node.path for node in kept}
            parts = self._parts([(label, path) for label, path in files
                                 if path not in revision_files or path in paths])
            yield parts, heads, kept

    def build(self, connection, url, on_revision, async_url=None, applied=()):
        """Migrate ``connection`` to head; return the heads it should now be at.

        ``async_url()`` returns the same database's URL with an async driver,
        which an env.py that builds an async engine is given as sqlalchemy.url.
        ``applied`` are the graph nodes (``migrations.graph.Node``) of the
        revisions the database already has: Alembic sees them without
        loading their files.
        """
        if self.project.async_env and async_url is not None:
            url = async_url()
        return BuildResult(*driver.upgrade_to_head(self.project, url, connection, on_revision,
                                                   applied=applied))

    def verify(self, connection, result):
        """Raise MigrationError unless the database of ``connection`` is at the heads of ``result``.

        Many env.py files build their own engine from the application's
        settings: the upgrade then ran elsewhere, and this database is empty.
        """
        if not result.version_table:
            return
        actual = driver.current_heads(connection, result.version_table, result.version_table_schema)
        if actual != result.heads:
            raise MigrationError(
                f"After the upgrade the golden database is at {actual or 'no revision'}, not at "
                f"head {result.heads}: env.py ({self.project.script_location / 'env.py'}) migrated "
                "some other database. Make env.py use config.attributes['connection'] when it is "
                "set, or build its engine from config.get_main_option('sqlalchemy.url') instead "
                "of the application's settings."
            )


class MetadataSource:
    """A golden schema built by ``MetaData.create_all``."""

    label = "metadata"

    def __init__(self, metadata):
        self.metadata = metadata

    def fingerprint_parts(self, dialect):
        """Return the DDL this metadata emits on the dialect ``dialect()`` returns, as fingerprint parts."""
        parts = [("schema", "metadata")]
        dialect = dialect()
        for table in self.metadata.sorted_tables:
            parts.append((f"table:{table.fullname}", str(CreateTable(table).compile(dialect=dialect))))
            for index in sorted(table.indexes, key=lambda i: i.name or ""):
                parts.append((f"index:{index.name}", str(CreateIndex(index).compile(dialect=dialect))))
        return parts

    def prefix_parts(self, dialect):
        """Yield nothing: a ``MetaData`` has no history to grow along."""
        return iter(())

    def build(self, connection, url, on_revision, async_url=None, applied=()):
        """Create every table of the metadata through ``connection``; there are no heads."""
        with connection.begin():
            self.metadata.create_all(connection)
        return BuildResult()

    def verify(self, connection, result):
        """Nothing to check: create_all ran on the connection it was given."""
