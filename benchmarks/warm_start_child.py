"""Child of the warm-start measurement: one fresh interpreter, timed step by step, JSON out.

usage: python warm_start_child.py ALEMBIC_INI CACHE_DIR QUERY
"""
import gc
import json
import sys
import time

ns = time.perf_counter_ns
t0 = ns()
import sqlalchemy  # noqa: E402
t1 = ns()
import sqlalchemy.orm  # noqa: E402,F401
t1o = ns()
# The first full collection after importing SQLAlchemy walks its ~50k new
# objects (over 10 ms); charge it to SQLAlchemy rather than to whichever
# import happens to trigger it.
gc.collect()
t2 = ns()
import sqlalchemy.dialects.sqlite  # noqa: E402,F401
t2d = ns()
import dbtestkit  # noqa: E402
t3 = ns()
db = dbtestkit.TestDatabase(alembic_ini=sys.argv[1], cache_dir=sys.argv[2])
t4 = ns()
db.fingerprint()
t5 = ns()
golden = db.ensure_golden()
t6 = ns()
with db.clone() as clone:
    t7 = ns()
    with clone.engine.connect() as connection:
        connection.exec_driver_sql(sys.argv[3]).scalar()
    t8 = ns()


def ms(a, b):
    return (b - a) / 1e6


print(json.dumps({
    "import sqlalchemy": ms(t0, t1),
    "import sqlalchemy.orm": ms(t1, t1o),
    "gc after import": ms(t1o, t2),
    "import sqlalchemy.dialects.sqlite": ms(t2, t2d),
    "import dbtestkit": ms(t2d, t3),
    "TestDatabase()": ms(t3, t4),
    "fingerprint()": ms(t4, t5),
    "ensure_golden()": ms(t5, t6),
    "first clone()": ms(t6, t7),
    "first query": ms(t7, t8),
    "built": golden.built,
    "alembic imported": "alembic" in sys.modules,
}))
