"""The application's engine and session factories, made once at import as most apps do."""

import os

from sqlalchemy import create_engine
from sqlalchemy.orm import scoped_session, sessionmaker

# The application's own database; tests never touch it (they bind the factories below).
engine = create_engine(os.environ.get("RECIPES_DATABASE_URL", "sqlite:///recipes.db"))

SessionLocal = sessionmaker(bind=engine)

# One session per thread, as older apps and factory_boy's docs use it.
ScopedSession = scoped_session(sessionmaker(bind=engine))
