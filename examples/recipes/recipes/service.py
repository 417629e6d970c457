"""What the application does with a session; it commits, as real code does."""

from sqlalchemy import select

from recipes.models import Post, User


def register(session, name):
    """Create a user and commit."""
    user = User(name=name)
    session.add(user)
    session.commit()
    return user


def publish(session, author_id, title):
    """Create a post by ``author_id`` and commit (a missing author breaks the foreign key)."""
    post = Post(author_id=author_id, title=title)
    session.add(post)
    session.commit()
    return post


def user_names(session):
    """Return every user's name, sorted."""
    return list(session.scalars(select(User.name).order_by(User.name)))
