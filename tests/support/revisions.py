"""Revisions the tests build histories from: a seeded table, a slow step, a step that stalls on request."""


# One seeded table, for histories made of the revisions below.
AUTHOR = ("0001", "create author", (
    'op.create_table("author", sa.Column("id", sa.Integer, primary_key=True), '
    'sa.Column("name", sa.String(100), nullable=False))\n'
    "op.execute(\"INSERT INTO author (name) VALUES ('Ursula K. Le Guin')\")"
), 'op.drop_table("author")')


def sleep_revision(revision, table, seconds):
    """A revision that creates ``table`` after sleeping ``seconds``."""
    return (revision, f"create {table}", (
        f"import time\ntime.sleep({seconds})\n"
        f'op.create_table("{table}", sa.Column("id", sa.Integer, primary_key=True))'
    ), f'op.drop_table("{table}")')


def stalling_revision(revision):
    """A revision creating ``book`` that, when KILLTEST_MARKER is set, says so in that file and stalls."""
    return (revision, "stall then create book", (
        "import os, pathlib, time\n"
        'marker = os.environ.get("KILLTEST_MARKER")\n'
        "if marker:\n"
        '    pathlib.Path(marker).write_text("building")\n'
        "    time.sleep(30)\n"
        'op.create_table("book", sa.Column("id", sa.Integer, primary_key=True))'
    ), 'op.drop_table("book")')
