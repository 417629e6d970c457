"""MySQL/MariaDB clones are faithful: schema, views, triggers, routines, sequences, rows and counters.

A MariaDB clone is a copy made statement by statement (no template), so
everything a migration can make is checked to arrive, and to work, in it.
"""

import textwrap

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from tests.backends import for_each_backend

def quote(identifier):
    return "`" + identifier.replace("`", "``") + "`"


FIDELITY_REVISIONS = [
    ("0001", "catalog tables", textwrap.dedent('''\
        op.execute("""
            CREATE TABLE category (
                id INTEGER NOT NULL AUTO_INCREMENT,
                name VARCHAR(50) NOT NULL,
                parent_id INTEGER NULL,
                PRIMARY KEY (id),
                CONSTRAINT uq_category_name UNIQUE (name),
                CONSTRAINT fk_category_parent FOREIGN KEY (parent_id) REFERENCES category (id)
                    ON DELETE SET NULL
            ) ENGINE=InnoDB
        """)
        op.execute("""
            CREATE TABLE product (
                id INTEGER NOT NULL AUTO_INCREMENT,
                sku VARCHAR(20) NOT NULL,
                category_id INTEGER NOT NULL,
                price DECIMAL(10, 2) NOT NULL,
                qty INTEGER NOT NULL DEFAULT 0,
                total DECIMAL(12, 2) AS (price * qty) VIRTUAL,
                sku_lower VARCHAR(20) AS (LOWER(sku)) STORED,
                PRIMARY KEY (id),
                CONSTRAINT uq_product_sku UNIQUE (sku),
                CONSTRAINT ck_product_price CHECK (price >= 0),
                CONSTRAINT fk_product_category FOREIGN KEY (category_id) REFERENCES category (id)
                    ON DELETE CASCADE
            ) ENGINE=InnoDB
        """)
        op.execute("CREATE INDEX ix_product_category_price ON product (category_id, price)")
        op.execute("""
            CREATE TABLE audit_log (
                id INTEGER NOT NULL AUTO_INCREMENT PRIMARY KEY,
                product_id INTEGER NOT NULL,
                action VARCHAR(20) NOT NULL
            ) ENGINE=InnoDB
        """)
        op.execute("""
            CREATE TABLE coupon (
                id INTEGER NOT NULL AUTO_INCREMENT PRIMARY KEY,
                code VARCHAR(20) NOT NULL
            ) ENGINE=InnoDB
        """)'''), "pass"),
    ("0002", "trigger and views", textwrap.dedent('''\
        op.execute(
            "CREATE TRIGGER trg_product_audit AFTER INSERT ON product FOR EACH ROW "
            "INSERT INTO audit_log (product_id, action) VALUES (NEW.id, 'insert')"
        )
        op.execute(
            "CREATE VIEW product_catalog AS SELECT p.id AS id, p.sku AS sku, c.name AS category, "
            "p.price AS price FROM product p JOIN category c ON c.id = p.category_id"
        )
        # Sorts before the view it reads: creating views by name would fail.
        op.execute("CREATE VIEW a_cheap_products AS SELECT id, sku FROM product_catalog WHERE price < 10")'''),
     "pass"),
    ("0003", "rows", textwrap.dedent('''\
        op.execute("INSERT INTO category (id, name, parent_id) VALUES "
                   "(1, 'Books', NULL), (2, 'Science Fiction', 1), (3, 'Games', NULL), (10, 'Gone', NULL)")
        op.execute("DELETE FROM category WHERE id = 10")
        op.execute("INSERT INTO product (sku, category_id, price, qty) VALUES "
                   "('SF-1', 2, 9.50, 3), ('SF-2', 2, 12.00, 1), ('GM-1', 3, 5.25, 10), "
                   "('GM-2', 3, 30.00, 2), ('BK-1', 1, 7.00, 0)")
        # Counters now run ahead of the rows: a copy must keep them, not recompute them.
        op.execute("DELETE FROM product WHERE sku IN ('GM-2', 'BK-1')")
        op.execute("INSERT INTO coupon (code) VALUES ('A'), ('B')")
        op.execute("DELETE FROM coupon")'''), "pass"),
]


def reflect(engine, schema):
    """Return what SQLAlchemy reflects of a database, plus raw view and trigger definitions."""
    unqualify = lambda sql: sql.replace(f"{quote(schema)}.", "")  # noqa: E731
    with engine.connect() as connection:
        inspector = sa.inspect(connection)
        snapshot = {"tables": sorted(inspector.get_table_names()),
                    "views": sorted(inspector.get_view_names())}
        for table in snapshot["tables"]:
            snapshot[f"table {table}"] = {
                "columns": [{**c, "type": str(c["type"])} for c in inspector.get_columns(table)],
                "primary key": inspector.get_pk_constraint(table),
                "foreign keys": sorted(inspector.get_foreign_keys(table), key=lambda f: f["name"]),
                "indexes": sorted(inspector.get_indexes(table), key=lambda i: i["name"]),
                "unique": sorted(inspector.get_unique_constraints(table), key=lambda u: u["name"]),
                "checks": sorted(inspector.get_check_constraints(table), key=lambda c: c["name"]),
            }
        for view in snapshot["views"]:
            row = connection.exec_driver_sql(f"SHOW CREATE VIEW {quote(view)}").first()
            snapshot[f"view {view}"] = unqualify(row[1])
        snapshot["triggers"] = [
            {k: (unqualify(v) if isinstance(v, str) else v) for k, v in row._mapping.items()}
            for row in connection.exec_driver_sql(
                "SELECT trigger_name, event_manipulation, event_object_table, action_order, "
                "action_timing, action_orientation, action_statement, definer, sql_mode "
                "FROM information_schema.TRIGGERS WHERE trigger_schema = %s ORDER BY trigger_name",
                (schema,),
            )
        ]
    return snapshot


def all_rows(engine, tables):
    with engine.connect() as connection:
        return {
            table: sorted(
                (tuple(row) for row in connection.exec_driver_sql(f"SELECT * FROM {quote(table)}")),
                key=repr,
            )
            for table in tables
        }


def next_auto_increments(engine, schema):
    with engine.connect() as connection:
        return dict(connection.exec_driver_sql(
            "SELECT table_name, auto_increment FROM information_schema.TABLES "
            "WHERE table_schema = %s AND auto_increment IS NOT NULL", (schema,),
        ).all())


class GoldenAndClone:
    """Each test gets the golden of ``revisions`` (``golden``, ``golden_engine``) and a clone of it."""

    def setUp(self):
        super().setUp()
        database = self.make_database()
        self.golden = database.ensure_golden()
        self.golden_schema = make_url(self.golden.url).database
        self.golden_engine = sa.create_engine(self.golden.url, poolclass=sa.pool.NullPool)
        self.addCleanup(self.golden_engine.dispose)
        self.clone = database.clone()
        self.addCleanup(self.clone.drop)


@for_each_backend("mysql")
class CloneFidelity(GoldenAndClone):
    """A clone holds exactly what the golden holds, and behaves like it"""

    revisions = FIDELITY_REVISIONS

    def test_reflected_schema_views_and_triggers_are_identical(self):
        golden = reflect(self.golden_engine, self.golden_schema)
        clone = reflect(self.clone.engine, self.clone.name)
        # The project really has what this test is about.
        self.assertEqual(golden["tables"], sorted(
            ["alembic_version", "audit_log", "category", "coupon", "product"]))
        self.assertEqual(golden["views"], ["a_cheap_products", "product_catalog"])
        self.assertEqual(len(golden["triggers"]), 1)
        product = golden["table product"]
        self.assertEqual({fk["options"].get("ondelete") for fk in product["foreign keys"]}, {"CASCADE"})
        self.assertEqual(golden["table category"]["foreign keys"][0]["referred_table"], "category")
        self.assertIn("ix_product_category_price", [i["name"] for i in product["indexes"]])
        self.assertIn("ck_product_price", [c["name"] for c in product["checks"]])
        self.assertTrue(any(c.get("computed") for c in product["columns"]))

        self.maxDiff = None
        for key in golden:
            with self.subTest(key):
                self.assertEqual(clone.get(key), golden[key])
        self.assertEqual(sorted(clone), sorted(golden))

    def test_views_and_triggers_of_the_clone_use_the_clone(self):
        with self.clone.engine.connect() as connection:
            definitions = [connection.exec_driver_sql(f"SHOW CREATE VIEW {view}").first()[1]
                           for view in ("product_catalog", "a_cheap_products")]
            schemas = connection.exec_driver_sql(
                "SELECT DISTINCT event_object_schema FROM information_schema.TRIGGERS "
                "WHERE trigger_schema = %s", (self.clone.name,)).scalars().all()
        for definition in definitions:
            self.assertNotIn(self.golden_schema, definition)
        self.assertEqual(schemas, [self.clone.name])

    def test_rows_of_every_table_are_identical(self):
        tables = sa.inspect(self.golden_engine).get_table_names()
        golden = all_rows(self.golden_engine, tables)
        clone = all_rows(self.clone.engine, tables)
        self.assertEqual(len(golden["product"]), 3)
        self.assertEqual(len(golden["audit_log"]), 5)  # the trigger fired while migrating
        self.assertEqual(golden["coupon"], [])
        self.assertEqual({t: len(r) for t, r in clone.items()}, {t: len(r) for t, r in golden.items()})
        self.assertEqual(clone, golden)

    def test_next_auto_increment_values_are_the_goldens(self):
        golden_next = next_auto_increments(self.golden_engine, self.golden_schema)
        self.assertEqual(golden_next["product"], 6)  # rows 4 and 5 were deleted
        self.assertEqual(golden_next["coupon"], 3)  # no rows at all
        self.assertEqual(next_auto_increments(self.clone.engine, self.clone.name), golden_next)
        with self.clone.engine.begin() as connection:
            inserted = {
                "audit_log": connection.exec_driver_sql(
                    "INSERT INTO audit_log (product_id, action) VALUES (1, 'manual')").lastrowid,
                "category": connection.exec_driver_sql(
                    "INSERT INTO category (name) VALUES ('Music')").lastrowid,
                "coupon": connection.exec_driver_sql(
                    "INSERT INTO coupon (code) VALUES ('C')").lastrowid,
                "product": connection.exec_driver_sql(
                    "INSERT INTO product (sku, category_id, price) VALUES ('MU-1', 3, 1)").lastrowid,
            }
        self.assertEqual(inserted, {t: golden_next[t] for t in inserted})

    def test_foreign_keys_checks_and_cascades_are_enforced_in_the_clone(self):
        with self.clone.engine.connect() as connection:
            with self.assertRaises(sa.exc.IntegrityError):
                connection.exec_driver_sql(
                    "INSERT INTO product (sku, category_id, price) VALUES ('ORPHAN', 999, 1)")
            connection.rollback()
            with self.assertRaises(sa.exc.IntegrityError):
                connection.exec_driver_sql(
                    "INSERT INTO category (name, parent_id) VALUES ('Orphan', 999)")
            connection.rollback()
            with self.assertRaises(sa.exc.DBAPIError) as caught:
                connection.exec_driver_sql(
                    "INSERT INTO product (sku, category_id, price) VALUES ('NEG', 3, -1)")
            self.assertIn("ck_product_price", str(caught.exception))
            connection.rollback()
            connection.exec_driver_sql("DELETE FROM category WHERE id = 1")
            self.assertEqual(connection.exec_driver_sql(
                "SELECT parent_id FROM category WHERE id = 2").scalar(), None)  # SET NULL
            connection.exec_driver_sql("DELETE FROM category WHERE id = 3")
            self.assertEqual(connection.exec_driver_sql(
                "SELECT sku FROM product ORDER BY sku").scalars().all(), ["SF-1", "SF-2"])  # CASCADE
            connection.commit()

    def test_trigger_and_views_work_in_the_clone(self):
        with self.clone.engine.begin() as connection:
            new_id = connection.exec_driver_sql(
                "INSERT INTO product (sku, category_id, price, qty) VALUES ('NEW-1', 2, 3.00, 4)"
            ).lastrowid
            audit = connection.exec_driver_sql(
                "SELECT action FROM audit_log WHERE product_id = %s", (new_id,)).scalars().all()
            cheap = connection.exec_driver_sql(
                "SELECT sku FROM a_cheap_products ORDER BY sku").scalars().all()
            total = connection.exec_driver_sql(
                "SELECT total, sku_lower FROM product WHERE id = %s", (new_id,)).first()
        self.assertEqual(audit, ["insert"])
        self.assertEqual(cheap, ["GM-1", "NEW-1", "SF-1"])
        self.assertEqual((float(total[0]), total[1]), (12.0, "new-1"))
        # The golden did not change.
        self.assertEqual(len(all_rows(self.golden_engine, ["audit_log"])["audit_log"]), 5)


ROUTINE_AND_SEQUENCE_REVISIONS = [
    ("0001", "routines", textwrap.dedent('''\
        op.execute("CREATE TABLE filled (id INTEGER PRIMARY KEY)")
        op.execute("CREATE FUNCTION add_one(x INTEGER) RETURNS INTEGER DETERMINISTIC RETURN x + 1")
        op.execute("CREATE PROCEDURE fill() BEGIN INSERT INTO filled VALUES (7); END")'''), "pass"),
    ("0002", "sequence", textwrap.dedent('''\
        if op.get_bind().dialect.is_mariadb:
            op.execute("CREATE SEQUENCE order_number START WITH 100")
            op.execute("SELECT NEXTVAL(order_number)")'''), "pass"),
]


@for_each_backend("mysql")
class CloneRoutinesAndSequences(GoldenAndClone):
    """Stored functions, procedures and (MariaDB) sequences made by migrations are in a clone too"""

    revisions = ROUTINE_AND_SEQUENCE_REVISIONS

    def routines(self, engine):
        with engine.connect() as connection:
            return [tuple(row) for row in connection.exec_driver_sql(
                "SELECT routine_name, routine_type, data_type, routine_definition, is_deterministic "
                "FROM information_schema.ROUTINES WHERE routine_schema = DATABASE() "
                "ORDER BY routine_name"
            )]

    def test_stored_functions_and_procedures_are_copied(self):
        golden = self.routines(self.golden_engine)
        self.assertEqual([r[0] for r in golden], ["add_one", "fill"])
        self.assertEqual(self.routines(self.clone.engine), golden)
        with self.clone.engine.begin() as connection:
            self.assertEqual(connection.exec_driver_sql("SELECT add_one(41)").scalar(), 42)
            connection.exec_driver_sql("CALL fill()")
            self.assertEqual(connection.exec_driver_sql("SELECT id FROM filled").scalars().all(), [7])

    def test_sequences_are_copied_with_their_next_value(self):
        with self.golden_engine.connect() as connection:
            version = connection.exec_driver_sql("SELECT VERSION()").scalar()
        if "mariadb" not in version.lower():
            self.skipTest("sequences are a MariaDB feature")
        self.assertEqual(sa.inspect(self.golden_engine).get_sequence_names(), ["order_number"])
        self.assertEqual(sa.inspect(self.clone.engine).get_sequence_names(), ["order_number"])
        with self.clone.engine.connect() as connection:
            # The migration took 100: a clone must never hand it out again.
            self.assertGreater(connection.exec_driver_sql("SELECT NEXTVAL(order_number)").scalar(), 100)
