"""A FastAPI app whose routes get their session from the ``get_db`` dependency."""

from fastapi import Depends, FastAPI, HTTPException
from pydantic import BaseModel
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from recipes import service
from recipes.db import SessionLocal

app = FastAPI()


class NewUser(BaseModel):
    name: str


class NewPost(BaseModel):
    author_id: int
    title: str


def get_db():
    """One session per request, closed after it."""
    session = SessionLocal()
    try:
        yield session
    finally:
        session.close()


@app.post("/users", status_code=201)
def create_user(new: NewUser, db: Session = Depends(get_db)):
    user = service.register(db, new.name)
    return {"id": user.id, "name": user.name}


@app.get("/users")
def list_users(db: Session = Depends(get_db)):
    return service.user_names(db)


@app.post("/posts", status_code=201)
def create_post(new: NewPost, db: Session = Depends(get_db)):
    try:
        post = service.publish(db, new.author_id, new.title)
    except IntegrityError:
        db.rollback()
        raise HTTPException(status_code=409, detail="no such author") from None
    return {"id": post.id}
