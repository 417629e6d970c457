"""factory_boy factories that save through the application's scoped session."""

import factory
from factory.alchemy import SQLAlchemyModelFactory

from recipes.db import ScopedSession
from recipes.models import Post, User


class UserFactory(SQLAlchemyModelFactory):
    class Meta:
        model = User
        # Called on every create: the scoped session of this thread.
        sqlalchemy_session_factory = ScopedSession
        sqlalchemy_session_persistence = "commit"

    name = factory.Sequence(lambda n: f"user {n}")


class PostFactory(SQLAlchemyModelFactory):
    class Meta:
        model = Post
        sqlalchemy_session = ScopedSession
        sqlalchemy_session_persistence = "flush"

    title = factory.Sequence(lambda n: f"post {n}")
    author = factory.SubFactory(UserFactory)
