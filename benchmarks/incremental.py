"""What a missing golden costs: built from empty, grown from its prefix's golden, restored from an archive.

Usage::

    python benchmarks/incremental.py [--backends sqlite,postgresql,mysql] [--rounds N]
                                     [--projects generated,bookshop] [--postgresql-url URL]
                                     [--mysql-url URL]

For each backend and project, one history whose last revision is new: the
golden of the history without it (the prefix) is built once; then every
round, in shuffled order, the golden of the whole history is made three
ways and dropped again:

``full``         from empty (every revision; what every run paid before),
``incremental``  from a copy of the prefix's golden (only the new revision),
``restore``      from a golden archive (``DBTESTKIT_ARCHIVE``), no migration.

``generated`` is 150 revisions x 300 tables (``/work/shared/bench/make_project.py``
or ``projectgen``) plus one appended revision; ``bookshop`` is
``examples/bookshop`` (5 revisions). Alembic is imported before timing:
none of the three pays for it. On PostgreSQL, ``pg_restore`` of a
``pg_dump -Fc`` of the same golden is timed too when the binaries exist.
Medians are printed as a table.
"""
import argparse
import os
import random
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))

import sqlalchemy as sa  # noqa: E402

import dbtestkit  # noqa: E402
from dbtestkit.golden.archive import export_golden  # noqa: E402
from dbtestkit.golden.build import ensure_golden  # noqa: E402

MAKE_PROJECT = Path("/work/shared/bench/make_project.py")
URLS = {"sqlite": "sqlite://", "postgresql": "postgresql+psycopg://postgres@127.0.0.1/postgres",
        "mysql": "mysql+pymysql://root@127.0.0.1/"}
EXTRA = '''"""appended"""
from alembic import op
import sqlalchemy as sa

revision = "zz_appended"
down_revision = {down!r}


def upgrade():
    op.create_table("appended", sa.Column("id", sa.Integer, primary_key=True),
                    sa.Column("name", sa.String(50), nullable=False))


def downgrade():
    op.drop_table("appended")
'''


def generated_project(root):
    """Write 150 revisions x 300 tables, plus one appended revision; return (full dir, new file)."""
    if MAKE_PROJECT.is_file():
        subprocess.run([sys.executable, str(MAKE_PROJECT), str(root), "150", "300"], check=True,
                       stdout=subprocess.DEVNULL)
        head = "r0149"
    else:
        sys.path.insert(0, str(HERE))
        import projectgen

        head = projectgen.generate_project(str(root), revisions=150, tables=300).revision_ids[-1]
    new = root / "migrations" / "versions" / "zz_appended.py"
    new.write_text(EXTRA.format(down=head))
    return root, new


def bookshop_project(root):
    """Copy examples/bookshop; its last revision is the new one."""
    shutil.copytree(REPO / "examples" / "bookshop", root)
    return root, root / "migrations" / "versions" / "0005_create_genres.py"


def prepare(name, maker, tmp):
    """Return (full history's alembic.ini, prefix history's alembic.ini), with a fingerprint of this run."""
    full, new = maker(tmp / name)
    env_py = full / "migrations" / "env.py"
    env_py.write_text(env_py.read_text() + f"\n# benchmarks/incremental.py {secrets.token_hex(6)}\n")
    prefix = tmp / f"{name}-prefix"
    shutil.copytree(full, prefix)
    (prefix / new.relative_to(full)).unlink()
    return full / "alembic.ini", prefix / "alembic.ini"


def quietly(function):
    """Run ``function`` with stderr (build progress) silenced."""
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        return function()
    finally:
        os.dup2(saved, 2)
        os.close(devnull)
        os.close(saved)


def measure(backend_name, url, project, rounds, tmp):
    """Return {way: [seconds, ...]} for one backend and project."""
    full_ini, prefix_ini = project
    cache = tmp / f"cache-{backend_name}"
    archive = tmp / f"archive-{backend_name}-{full_ini.parent.name}"
    prefix = dbtestkit.TestDatabase(url, alembic_ini=prefix_ini, cache_dir=cache)
    database = dbtestkit.TestDatabase(url, alembic_ini=full_ini, cache_dir=cache)
    restoring = dbtestkit.TestDatabase(url, alembic_ini=full_ini, cache_dir=cache, archive=archive)
    golden, backend = database.golden, database.backend
    fingerprint = database.fingerprint()
    quietly(prefix.ensure_golden)
    quietly(database.ensure_golden)
    export_golden(backend, fingerprint, archive)
    pg_dump = _pg_dump(backend, fingerprint, tmp) if backend_name == "postgresql" else None
    backend.discard_golden(fingerprint)

    def full():
        return ensure_golden(backend, golden.source, (), golden.fingerprint(), "bench")

    def incremental():
        made = database.golden.ensure()
        assert made.parent == prefix.fingerprint(), "not grown from the prefix"
        return made

    def restore():
        made = restoring.golden.ensure()
        assert made.restored, "not restored"
        return made

    ways = {"full": full, "incremental": incremental, "restore": restore}
    if pg_dump:
        ways["pg_restore"] = lambda: _pg_restore(backend, pg_dump)
    times = {way: [] for way in ways}
    for _ in range(rounds):
        order = list(ways)
        random.shuffle(order)
        for way in order:
            started = time.perf_counter()
            quietly(ways[way])
            times[way].append(time.perf_counter() - started)
            if way == "pg_restore":
                _drop_pg(backend, "dbtk_bench_pg_restore")
            else:
                backend.discard_golden(fingerprint)
    backend.discard_golden(prefix.fingerprint())
    for db in (prefix, database, restoring):
        db.close()
    return times


def _pg_dump(backend, fingerprint, tmp):
    if not shutil.which("pg_dump") or not shutil.which("pg_restore"):
        return None
    clone = backend.clone(fingerprint, "database")
    path = tmp / "golden.pgdump"
    started = time.perf_counter()
    subprocess.run(["pg_dump", "-Fc", "-f", str(path), _libpq(clone.url)], check=True)
    print(f"  pg_dump -Fc: {time.perf_counter() - started:.3f} s", file=sys.stderr)
    clone.drop()
    return path


def _pg_restore(backend, path):
    with backend.admin.connect() as connection:
        connection.exec_driver_sql("CREATE DATABASE dbtk_bench_pg_restore")
    subprocess.run(["pg_restore", "--no-owner", "-d", _libpq(backend.url_of("dbtk_bench_pg_restore")),
                    str(path)], check=True)


def _drop_pg(backend, name):
    with backend.admin.connect() as connection:
        connection.exec_driver_sql(f"DROP DATABASE IF EXISTS {name}")


def _libpq(url):
    return sa.engine.make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default="sqlite,postgresql,mysql")
    parser.add_argument("--projects", default="generated,bookshop")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--postgresql-url", default=URLS["postgresql"])
    parser.add_argument("--mysql-url", default=URLS["mysql"])
    args = parser.parse_args()
    urls = {**URLS, "postgresql": args.postgresql_url, "mysql": args.mysql_url}
    import alembic.command  # noqa: F401  (imported before timing: no way pays for it)

    makers = {"generated": generated_project, "bookshop": bookshop_project}
    rows = []
    with tempfile.TemporaryDirectory(prefix="dbtestkit-bench-") as tmp:
        tmp = Path(tmp)
        projects = {name: prepare(name, makers[name], tmp) for name in args.projects.split(",")}
        for name, project in projects.items():
            for backend_name in args.backends.split(","):
                print(f"{name} on {backend_name} ...", file=sys.stderr)
                times = measure(backend_name, urls[backend_name], project, args.rounds, tmp)
                medians = {way: statistics.median(values) for way, values in times.items()}
                rows.append((name, backend_name, medians))
    print(f"{'project':10} {'backend':11} {'full':>9} {'incremental':>12} {'ratio':>7} "
          f"{'restore':>9} {'pg_restore':>11}")
    for name, backend_name, medians in rows:
        ratio = medians["full"] / medians["incremental"]
        pg = f"{medians['pg_restore'] * 1000:9.0f}ms" if "pg_restore" in medians else f"{'-':>11}"
        print(f"{name:10} {backend_name:11} {medians['full'] * 1000:7.0f}ms "
              f"{medians['incremental'] * 1000:10.0f}ms {'1/%.0f' % ratio:>7} "
              f"{medians['restore'] * 1000:7.0f}ms {pg}")


if __name__ == "__main__":
    main()
