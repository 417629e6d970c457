"""The history's checks (single head, upgrade, models match, up/down), on the async env.py."""

import dbtestkit

from tasks.models import Base
from tests.database import DB


class Migrations(dbtestkit.MigrationTestCase):
    database = DB
    metadata = Base.metadata
