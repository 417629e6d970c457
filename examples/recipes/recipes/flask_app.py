"""A Flask app on Flask-SQLAlchemy, made by an application factory."""

from flask import Flask, jsonify, request
from flask_sqlalchemy import SQLAlchemy

from recipes.models import Base, User

db = SQLAlchemy(model_class=Base)


def create_app(config=None):
    """Return the Flask app; ``config`` overrides settings (tests pass their database URL)."""
    app = Flask(__name__)
    app.config["SQLALCHEMY_DATABASE_URI"] = "sqlite:///recipes.db"
    app.config.update(config or {})
    db.init_app(app)

    @app.post("/users")
    def create_user():
        user = User(name=request.json["name"])
        db.session.add(user)
        db.session.commit()
        return jsonify(id=user.id, name=user.name), 201

    @app.get("/users")
    def list_users():
        return jsonify(db.session.scalars(db.select(User.name).order_by(User.name)).all())

    return app
