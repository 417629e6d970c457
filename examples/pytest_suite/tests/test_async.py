"""The async fixtures, under pytest-asyncio (1.x) and anyio's plugin."""

import pytest
import sqlalchemy as sa

from bookshop.models import Author


async def add_author(session, name):
    """What an async service does: add, then commit."""
    session.add(Author.named(name))
    await session.commit()


async def count_authors(session):
    return await session.scalar(sa.select(sa.func.count()).select_from(Author))


@pytest.mark.asyncio
async def test_an_async_commit_is_undone_after_the_test(async_db_session):
    await add_author(async_db_session, "Frank Herbert")
    assert await count_authors(async_db_session) == 1


@pytest.mark.asyncio
async def test_the_previous_async_test_left_nothing_behind(async_db_session):
    assert await count_authors(async_db_session) == 0


@pytest.mark.asyncio(loop_scope="module")
async def test_a_module_wide_loop_works_too(async_db_session):
    await add_author(async_db_session, "Ursula K. Le Guin")
    assert await count_authors(async_db_session) == 1


@pytest.mark.asyncio
async def test_an_async_clone_of_its_own(async_db_clone):
    async with async_db_clone.engine.begin() as connection:
        await connection.execute(sa.insert(Author).values(name="Iain Banks", sort_name="Banks, Iain"))
    async with async_db_clone.engine.connect() as connection:
        assert await connection.scalar(sa.select(sa.func.count()).select_from(Author)) == 1


@pytest.fixture
def anyio_backend():
    return "asyncio"


@pytest.mark.anyio
async def test_under_anyio(async_db_session):
    await add_author(async_db_session, "Octavia E. Butler")
    assert await count_authors(async_db_session) == 1


@pytest.mark.anyio
async def test_an_async_clone_under_anyio(async_db_clone):
    async with async_db_clone.engine.connect() as connection:
        assert await connection.scalar(sa.select(sa.func.count()).select_from(Author)) == 0
