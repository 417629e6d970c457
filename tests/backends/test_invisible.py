"""Invisible to the application: nothing of dbtestkit's inside the user's schema, ever.

env.py sees no table before the first migration; goldens, clones and kept
clones hold exactly what a plain ``alembic upgrade head`` makes.
"""

import json
import secrets

from sqlalchemy.engine import make_url

from tests.backends import for_each_backend
from tests.backends.sides import drop_pg_database, run_sql
from tests.support import CONNECTION_ENV_PY

# env.py as tests.support has it, telling a file what it sees before it migrates.
SEEING_ENV_PY = CONNECTION_ENV_PY.replace("context.configure(", '''\
import json as _json
import sqlalchemy as _sa
_inspector = _sa.inspect(connectable)
with open(SEEN, "a") as _seen:
    _seen.write(_json.dumps({"tables": _inspector.get_table_names(),
                             "views": _inspector.get_view_names()}) + "\\n")
if connectable.in_transaction():
    connectable.rollback()
context.configure(''', 1)


def inventory(side, url):
    """Return every object a database holds, as comparable rows (names, kinds)."""
    name = make_url(url).database
    if side.backend == "postgresql":
        system = "n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_(toast|temp)'"
        return {
            "relations": run_sql(url, "SELECT n.nspname, c.relname, c.relkind FROM pg_class c JOIN "
                                      f"pg_namespace n ON n.oid = c.relnamespace WHERE {system} ORDER BY 1, 2"),
            "functions": run_sql(url, "SELECT n.nspname, p.proname FROM pg_proc p JOIN pg_namespace n "
                                      f"ON n.oid = p.pronamespace WHERE {system} ORDER BY 1, 2"),
            "schemas": run_sql(url, "SELECT nspname FROM pg_namespace n WHERE "
                                    f"{system} ORDER BY 1"),
            "extensions": run_sql(url, "SELECT extname FROM pg_extension ORDER BY 1"),
        }
    queries = {
        "tables": "SELECT table_name, table_type FROM information_schema.TABLES WHERE table_schema = %s",
        "routines": "SELECT routine_name, routine_type FROM information_schema.ROUTINES "
                    "WHERE routine_schema = %s",
        "triggers": "SELECT trigger_name FROM information_schema.TRIGGERS WHERE trigger_schema = %s",
        "events": "SELECT event_name FROM information_schema.EVENTS WHERE event_schema = %s",
    }
    return {key: sorted(run_sql(side.url, sql, (name,))) for key, sql in queries.items()}


@for_each_backend("postgresql", "mysql")
class InvisibleToTheApplication:
    """No dbtestkit object in the user's schema: during the build, in goldens, clones, kept clones"""

    @property
    def env_py(self):
        self.seen = self.tmp / "seen.jsonl"
        return f"SEEN = {str(self.seen)!r}\n" + SEEING_ENV_PY + f"# dbtestkit test {self.token}\n"

    def plain_upgrade(self):
        """Migrate a fresh database with plain ``alembic upgrade head``; return its URL."""
        from alembic import command
        from alembic.config import Config

        name = f"dbtestkit_plain_{secrets.token_hex(6)}"
        run_sql(self.side.url, f"CREATE DATABASE {self.side.quote(name)}")
        if self.backend == "postgresql":
            self.addCleanup(drop_pg_database, self.side.url, name)
        else:
            self.addCleanup(run_sql, self.side.url, f"DROP DATABASE IF EXISTS {self.side.quote(name)}")
        url = make_url(self.side.url).set(database=name).render_as_string(hide_password=False)
        config = Config(str(self.ini))
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
        command.upgrade(config, "head")
        return url

    def test_env_py_sees_no_table_before_the_first_migration(self):
        database = self.make_database()
        self.assertTrue(database.ensure_golden().built)
        seen = [json.loads(line) for line in self.seen.read_text().splitlines()]
        self.assertEqual(seen, [{"tables": [], "views": []}])

    def test_goldens_clones_and_kept_clones_hold_exactly_what_alembic_upgrade_head_makes(self):
        expected = inventory(self.side, self.plain_upgrade())
        self.assertIn("author", json.dumps(expected), "the plain upgrade made nothing: nothing was tested")
        database = self.make_database()
        golden = database.ensure_golden()
        if self.backend == "mysql":  # a PostgreSQL golden is closed to connections
            self.assertEqual(inventory(self.side, golden.url), expected)
        clone = database.backend.clone(golden.fingerprint, "database")
        self.assertEqual(inventory(self.side, clone.url), expected)
        location = clone.keep(f"{self.id()}.kept")
        kept = make_url(self.side.url).set(database=make_url(location).database)
        self.assertEqual(inventory(self.side, kept.render_as_string(hide_password=False)), expected)
