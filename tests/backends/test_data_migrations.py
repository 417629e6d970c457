"""Data-migration tests in MigrationTestCase: stop before a migration, insert rows, run it, assert."""

import unittest

from sqlalchemy import inspect, text

import dbtestkit
from dbtestkit.migration_checks import MigrationRunner
from dbtestkit.migration_checks.stepper import Stepper
from tests.backends import for_each_backend

SPLIT = (
    'connection = op.get_bind()\n'
    'for id_, name in connection.execute(sa.text("SELECT id, name FROM person")).all():\n'
    '    if " " not in name:\n'
    '        raise ValueError(f"cannot split {name!r}")\n'
    '    first, _, last = name.partition(" ")\n'
    '    connection.execute(sa.text("UPDATE person SET first_name = :f, last_name = :l WHERE id = :i"),\n'
    '                       {"f": first, "l": last, "i": id_})'
)
JOIN = (
    'connection = op.get_bind()\n'
    'for id_, first, last in connection.execute(\n'
    '        sa.text("SELECT id, first_name, last_name FROM person")).all():\n'
    '    connection.execute(sa.text("UPDATE person SET name = :n WHERE id = :i"),\n'
    '                       {"n": f"{first} {last}", "i": id_})'
)
# A person's name split into first and last names by a data migration (0003).
PEOPLE = [
    ("0001", "create person", (
        'op.create_table("person", sa.Column("id", sa.Integer, primary_key=True), '
        'sa.Column("name", sa.String(100), nullable=False))'
    ), 'op.drop_table("person")'),
    ("0002", "add name parts", (
        'with op.batch_alter_table("person") as batch:\n'
        '    batch.add_column(sa.Column("first_name", sa.String(50)))\n'
        '    batch.add_column(sa.Column("last_name", sa.String(50)))'
    ), (
        'with op.batch_alter_table("person") as batch:\n'
        '    batch.drop_column("last_name")\n'
        '    batch.drop_column("first_name")'
    )),
    ("0003", "split name", SPLIT, JOIN),
    ("0004", "drop name", (
        'with op.batch_alter_table("person") as batch:\n'
        '    batch.drop_column("name")'
    ), (
        'with op.batch_alter_table("person") as batch:\n'
        '    batch.add_column(sa.Column("name", sa.String(100), nullable=False, server_default=""))'
    )),
    ("0005", "create tag", (
        'op.create_table("tag", sa.Column("id", sa.Integer, primary_key=True))'
    ), 'op.drop_table("tag")'),
]


def run_case(case):
    """Run every test of ``case``; return the TestResult."""
    result = unittest.TestResult()
    unittest.defaultTestLoader.loadTestsFromTestCase(case).run(result)
    return result


def people(connection):
    """Return (first_name, last_name) of every person, by id."""
    return [tuple(row) for row in connection.execute(
        text("SELECT first_name, last_name FROM person ORDER BY id"))]


@for_each_backend()
class DataMigrationTests:
    """migrate_up_to / up_one / down_one / down_to, insert_into and self.connection"""

    revisions = PEOPLE

    def case(self, **attributes):
        """Return a data-migration-only MigrationTestCase over this project, with ``attributes``."""
        attributes.setdefault("checks", [])
        case = type("PeopleMigrations", (dbtestkit.MigrationTestCase,), attributes)
        case.database = self.make_database()
        return case

    def assertPassed(self, result, count):
        self.assertEqual([text for _, text in result.failures + result.errors], [])
        self.assertEqual(result.testsRun, count)

    def test_split_name_data_migration_round_trip(self):
        seen, clones = {}, []

        def test_split(case):
            case.migrate_up_to("0002")
            case.insert_into("person", [{"name": "Ada Lovelace"}, {"name": "Alan Turing"}])
            case.migrate_up_one()
            case.assertEqual(people(case.connection), [("Ada", "Lovelace"), ("Alan", "Turing")])
            case.migrate_down_one()
            case.assertEqual(case._dbtestkit_stepper().where(), "0002_add_name_parts")
            case.migrate_down_one()
            columns = [column["name"] for column in inspect(case.connection).get_columns("person")]
            case.assertEqual(columns, ["id", "name"])
            seen["split"] = case._dbtestkit_stepper().started_from
            clones.append(case._dbtestkit_stepper().clone.name)

        def test_join_on_downgrade(case):
            case.migrate_up_to("0004_drop_name")  # a file label works as well as an id
            case.insert_into("person", {"first_name": "Grace", "last_name": "Hopper"})
            case.migrate_down_to("0002")
            names = case.connection.execute(text("SELECT name FROM person")).scalars().all()
            case.assertEqual(names, ["Grace Hopper"])
            seen["join"] = case._dbtestkit_stepper().started_from
            clones.append(case._dbtestkit_stepper().clone.name)

        def test_each_test_has_its_own_database(case):
            case.migrate_up_to("head")
            case.assertEqual(case.connection.execute(text("SELECT COUNT(*) FROM person")).scalar(), 0)
            clones.append(case._dbtestkit_stepper().clone.name)

        case = self.case(test_split=test_split, test_join_on_downgrade=test_join_on_downgrade,
                         test_each_test_has_its_own_database=test_each_test_has_its_own_database)
        self.assertEqual(sorted(unittest.defaultTestLoader.getTestCaseNames(case)), [
            "test_each_test_has_its_own_database", "test_join_on_downgrade", "test_split"],
            "checks = [] must leave the built-in checks out")
        self.assertPassed(run_case(case), 3)
        # 0002 is 2 steps up from base, 3 down from head; 0004 is 4 up, 1 down.
        cost = case.database.backend.downgrade_step_cost
        self.assertEqual(seen, {"split": "head" if 3 * cost < 2 else "empty", "join": "head"})
        # Every test's clone is gone (of the golden at head, or of the empty golden).
        runner = MigrationRunner(case.database)
        for golden in (runner.golden(), runner.empty_golden()):
            golden.close()  # used clones are dropped in the background until then
        existing = {artifact for golden in (runner.golden(), runner.empty_golden())
                    for artifact in self.side.artifacts(golden.fingerprint(), self.cache_dir)}
        self.assertEqual(len(clones), 3)
        self.assertEqual([name for name in clones if any(name in a for a in existing)], [])

    def test_walking_down_from_head_reaches_the_same_schema_as_walking_up(self):
        shapes = {}

        def test_shape(case):
            for start in ("empty", "head"):
                stepper = Stepper(MigrationRunner(case.database), start=start)
                try:
                    stepper.up_to("0004")
                    inspector = inspect(stepper.connection)
                    shapes[start] = (sorted(inspector.get_table_names()),
                                     sorted(c["name"] for c in inspector.get_columns("person")))
                    shapes[start + " at"] = stepper.where()
                finally:
                    stepper.close()

        self.assertPassed(run_case(self.case(test_shape=test_shape)), 1)
        self.assertEqual(shapes["empty"], shapes["head"])
        self.assertEqual(shapes["head at"], "0004_drop_name")

    def test_a_failing_data_migration_names_its_revision_and_file(self):
        def test_unsplittable(case):
            case.migrate_up_to("0002")
            case.insert_into("person", {"name": "Plato"})
            case.migrate_up_to("0003")

        result = run_case(self.case(test_unsplittable=test_unsplittable))
        self.assertEqual(len(result.failures), 1, result.errors)
        message = result.failures[0][1]
        self.assertIn("Revision 0003_split_name (migrations/versions/0003_split_name.py) failed to "
                      "upgrade: ValueError: cannot split 'Plato'", message)
        self.assertIn("Where:", message)

    def test_bad_names_and_moves_are_clear_errors(self):
        errors = {}

        def attempt(label, action):
            try:
                action()
            except dbtestkit.ConfigurationError as error:
                errors[label] = str(error)

        def test_mistakes(case):
            attempt("unknown", lambda: case.migrate_up_to("0099"))
            attempt("not a name", lambda: case.migrate_down_to(3))
            attempt("down at base", case.migrate_down_one)
            case.migrate_up_to("0003")
            attempt("up to an ancestor", lambda: case.migrate_up_to("0001"))
            attempt("down to a descendant", lambda: case.migrate_down_to("0005"))
            attempt("no table", lambda: case.insert_into("tag", {"id": 1}))
            attempt("no column", lambda: case.insert_into("person", {"name": "A B", "age": 3}))
            case.migrate_up_to("head")
            attempt("up at head", case.migrate_up_one)

        self.assertPassed(run_case(self.case(test_mistakes=test_mistakes)), 1)
        self.assertEqual(len(errors), 8, errors)
        self.assertIn("migrate_up_to('0099'): no revision of", errors["unknown"])
        self.assertIn("known revisions: 0001, 0002, 0003, 0004, 0005 (or 'base', 'head')", errors["unknown"])
        self.assertIn("got 3", errors["not a name"])
        self.assertIn("at base already", errors["down at base"])
        self.assertIn("at 0003_split_name", errors["up to an ancestor"])
        self.assertIn("migrate_down_to()", errors["up to an ancestor"])
        self.assertIn("migrate_up_to()", errors["down to a descendant"])
        self.assertIn("no such table at 0003_split_name; tables: alembic_version, person", errors["no table"])
        self.assertIn("person has no column age", errors["no column"])
        self.assertIn("at head (0005_create_tag) already", errors["up at head"])

    def test_a_downgrade_that_does_not_run_makes_it_walk_up_instead(self):
        path = next(self.versions.glob("0005_*.py"))
        path.write_text(path.read_text().replace('op.drop_table("tag")', 'raise NotImplementedError'))

        def test_near_head(case):
            case.migrate_up_to("0004")
            case.assertEqual(case._dbtestkit_stepper().started_from, "empty")
            case.assertNotIn("tag", inspect(case.connection).get_table_names())

        self.assertPassed(run_case(self.case(test_near_head=test_near_head)), 1)

    def test_built_in_checks_and_data_migration_tests_share_a_class(self):
        def test_data(case):
            case.migrate_up_to("0003")

        case = self.case(checks=["single_head_revision"], test_data=test_data)
        names = unittest.defaultTestLoader.getTestCaseNames(case)
        self.assertIn("test_single_head_revision", names)
        self.assertIn("test_data", names)
        result = run_case(case)
        self.assertEqual(result.failures + result.errors, [])
