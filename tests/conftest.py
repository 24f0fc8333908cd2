"""Test harness: a real database (SQLite, or PostgreSQL when JIAOYING_TEST_DATABASE_URL is set),
built with `alembic upgrade head`, emptied between tests; the API through httpx's ASGI transport."""

import asyncio
import os
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from httpx import ASGITransport, AsyncClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
ADMIN_TOKEN = "test-admin-token"
POSTGRES_URL = os.environ.get("JIAOYING_TEST_DATABASE_URL")
_sqlite_dir = tempfile.mkdtemp(prefix="jiaoying-test-")
DATABASE_URL = POSTGRES_URL or f"sqlite+aiosqlite:///{_sqlite_dir}/test.db"

os.environ["JIAOYING_DATABASE_URL"] = DATABASE_URL
os.environ["JIAOYING_ADMIN_TOKEN"] = ADMIN_TOKEN
os.environ["JIAOYING_SCHEDULER"] = "off"
os.environ["JIAOYING_SECRET_KEY"] = "test-secret"
ANCHOR_FILE = Path(_sqlite_dir) / "anchors.jsonl"
os.environ["JIAOYING_AUDIT_ANCHOR_FILE"] = str(ANCHOR_FILE)
os.environ["JIAOYING_PUBLIC_URL"] = "http://127.0.0.1:8000"

import app.models  # noqa: E402  (every table on the metadata)
from app import db, throttle  # noqa: E402
from app.config import Settings  # noqa: E402
from app.db import Base  # noqa: E402
from app.main import create_app  # noqa: E402
from app.models.policy import Policy  # noqa: E402

requires_postgres = pytest.mark.skipif(POSTGRES_URL is None, reason="JIAOYING_TEST_DATABASE_URL is not set")


def alembic_config(url: str) -> Config:
    config = Config(str(ROOT / "alembic.ini"))
    config.set_main_option("sqlalchemy.url", url)
    config.attributes["configure_logger"] = False
    return config


def pytest_sessionstart(session: pytest.Session) -> None:
    if POSTGRES_URL is None:
        return

    async def ping() -> None:
        engine = create_async_engine(POSTGRES_URL, connect_args={"timeout": 5})
        try:
            async with engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
        finally:
            await engine.dispose()

    try:
        asyncio.run(ping())
    except Exception as exc:
        pytest.exit(f"JIAOYING_TEST_DATABASE_URL is set but PostgreSQL cannot be reached: {exc}", returncode=3)


@pytest.fixture(scope="session")
def migrated() -> Iterator[str]:
    """The test database, migrated to head once per run."""
    config = alembic_config(DATABASE_URL)
    command.downgrade(config, "base")
    command.upgrade(config, "head")
    yield DATABASE_URL


@pytest.fixture(scope="session")
def app(migrated: str):
    return create_app(Settings(database_url=migrated, admin_token=ADMIN_TOKEN, scheduler="off"))


@pytest.fixture(scope="session")
async def seeded(app) -> list[dict]:
    """Rows the migrations seed (the default policies), restored after every test."""
    async with db.get_database().engine.connect() as connection:
        return [dict(row) for row in (await connection.execute(Policy.__table__.select())).mappings()]


@pytest.fixture(autouse=True)
async def clean_database(app, seeded: list[dict]) -> AsyncIterator[None]:
    """Every test starts from empty tables, the default policies, and no published chain heads."""
    yield
    throttle.forget_blocked()
    ANCHOR_FILE.unlink(missing_ok=True)
    tables = [table.name for table in reversed(Base.metadata.sorted_tables)]
    async with db.get_database().engine.begin() as connection:
        if db.get_database().is_sqlite:
            for table in tables:
                await connection.execute(text(f"DELETE FROM {table}"))
        else:
            await connection.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        await connection.execute(Policy.__table__.insert(), seeded)


@pytest.fixture
async def client(app) -> AsyncIterator[AsyncClient]:
    """An admin client."""
    transport = ASGITransport(app=app)
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    async with AsyncClient(transport=transport, base_url="http://127.0.0.1", headers=headers) as http:
        yield http


@pytest.fixture
async def anonymous(app) -> AsyncIterator[AsyncClient]:
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://127.0.0.1") as http:
        yield http


@pytest.fixture
async def regions(client: AsyncClient) -> None:
    """The committed fixture tree: 达坂城区 (Urumqi) in full, and three of 东莞's townships."""
    response = await client.post(
        "/api/v1/regions/import",
        content=(FIXTURES / "regions.csv").read_bytes(),
        headers={"Content-Type": "text/csv"},
    )
    assert response.status_code == 200, response.text
