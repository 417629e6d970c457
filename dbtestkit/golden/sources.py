"""Schema sources of a golden: an Alembic history or a ``MetaData``."""

from typing import NamedTuple

from dbtestkit.migrations.project import AlembicProject
from dbtestkit.golden.fingerprint import file_parts


class BuildResult(NamedTuple):
    """What a schema build leaves behind: the heads and where they are recorded."""

    heads: tuple = ()
    version_table: "str | None" = None
    version_table_schema: "str | None" = None


class AlembicSchema:
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
        """Return the parts of the fingerprint this schema contributes."""
        options = [(f"option:{key}", value) for key, value in self.project.schema_options()]
        return [("schema", "alembic"), *options, *file_parts(self.project.source_files())]

    def build(self, connection, url, on_revision):
        """Migrate ``connection`` to head; return the heads it should now be at."""
        from dbtestkit.migrations.driver import upgrade_to_head

        return BuildResult(*upgrade_to_head(self.project, url, connection, on_revision))


class MetadataSchema:
    """A golden schema built by ``MetaData.create_all``."""

    label = "metadata"

    def __init__(self, metadata):
        self.metadata = metadata

    def fingerprint_parts(self, dialect):
        """Return the DDL this metadata emits on ``dialect``, as fingerprint parts."""
        from sqlalchemy.schema import CreateIndex, CreateTable

        parts = [("schema", "metadata")]
        for table in self.metadata.sorted_tables:
            parts.append((f"table:{table.fullname}", str(CreateTable(table).compile(dialect=dialect))))
            for index in sorted(table.indexes, key=lambda i: i.name or ""):
                parts.append((f"index:{index.name}", str(CreateIndex(index).compile(dialect=dialect))))
        return parts

    def build(self, connection, url, on_revision):
        """Create every table of the metadata through ``connection``; there are no heads."""
        with connection.begin():
            self.metadata.create_all(connection)
        return BuildResult()
