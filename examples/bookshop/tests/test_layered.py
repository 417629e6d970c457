"""Genre tests organised with a nose2 layer: one transaction for every class in the layer.

Under ``nose2 --plugin nose2.plugins.layers`` both classes share the layer's
connection; under plain unittest or pytest the ``layer`` attribute is ignored
and each class opens its own. The tests pass either way.
"""

import sqlalchemy as sa

import dbtestkit.layers
from bookshop.models import Genre

from .database import DB

CatalogueLayer = dbtestkit.layers.database_layer(DB, name="CatalogueLayer")


def genre_names(connection: sa.Connection) -> set:
    """Return the names of every genre the connection can see."""
    return set(connection.scalars(sa.select(Genre.name)))


class HaikuGenreTests(dbtestkit.DatabaseTestCase):
    """Adds a genre in class data; the other class in the layer must not see it."""

    database = DB
    layer = CatalogueLayer

    @classmethod
    def setUpTestData(cls, connection):
        connection.execute(sa.insert(Genre).values(name="Haiku"))

    def test_sees_its_genre(self):
        self.assertIn("Haiku", genre_names(self.connection))

    def test_does_not_see_the_radio_plays_genre(self):
        self.assertNotIn("Radio Plays", genre_names(self.connection))


class RadioPlayGenreTests(dbtestkit.DatabaseTestCase):
    """Adds another genre; shares the layer's transaction, not the other class's data."""

    database = DB
    layer = CatalogueLayer

    @classmethod
    def setUpTestData(cls, connection):
        connection.execute(sa.insert(Genre).values(name="Radio Plays"))

    def test_sees_its_genre(self):
        self.assertIn("Radio Plays", genre_names(self.connection))

    def test_does_not_see_the_haiku_genre(self):
        self.assertNotIn("Haiku", genre_names(self.connection))
