"""Database plumbing: the declarative base, the engine, sessions and the unit of work."""

import itertools
from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar, TypeVar, cast

import orjson
from fastapi import Depends, Request
from sqlalchemy import (
    JSON,
    ColumnElement,
    DateTime,
    MetaData,
    String,
    TypeDecorator,
    any_,
    bindparam,
    event,
    func,
    text,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect, Result
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase

T = TypeVar("T")

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# JSON documents: JSONB on PostgreSQL, JSON text on SQLite.
JSONDoc = JSON().with_variant(JSONB(), "postgresql")
# Region paths are compared bytewise (range scans for subtrees), whatever the database's locale.
BinaryString = String().with_variant(String(collation="C"), "postgresql")


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware timestamp that comes back aware in UTC on SQLite too."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar = {datetime: UTCDateTime, dict[str, Any]: JSONDoc}


def utc_now() -> datetime:
    """Now, timezone-aware, in UTC (services take it as a parameter; see STYLE.md)."""
    return datetime.now(UTC)


def seconds_between(later: Any, earlier: Any, *, postgres: bool) -> ColumnElement[Any]:
    """SQL for the seconds from one time column to another, as a float, on either engine."""
    if postgres:
        # date_part is double precision; EXTRACT's numeric sorts several times slower.
        return func.date_part("epoch", later - earlier)
    return (func.julianday(later) - func.julianday(earlier)) * 86400.0


def dialect_insert(session: AsyncSession) -> Any:
    """The session's dialect's INSERT, which has ON CONFLICT (PostgreSQL's or SQLite's)."""
    return postgresql.insert if is_postgresql(session) else sqlite.insert


def chunks(values: Iterable[T], size: int = 1000) -> Iterator[list[T]]:
    """Values in lists of at most `size`: IN lists stay within every driver's parameter limit."""
    iterator = iter(values)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk


def retryable(exc: DBAPIError) -> bool:
    """Whether PostgreSQL chose the transaction as a deadlock victim or refused it as not
    serializable: running it again at once is the remedy."""
    sqlstate = str(getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None) or "")
    return sqlstate in ("40001", "40P01")


async def core_rows(session: AsyncSession, query: Any, parameters: dict[str, Any] | None = None) -> Result[Any]:
    """A statement run as plain Core on the session's connection: tens of thousands of rows through
    the ORM's result machinery would cost a fan-out or the sender a sizeable share of its time, and
    the ORM's statement handling thousands of answers a second."""
    return await (await session.connection()).execute(query, parameters)


async def analyze(session: AsyncSession, *tables: str) -> None:
    """Fresh planner statistics for tables a bulk load has just grown (PostgreSQL; counted in the
    session's transaction, its own new rows included). Without them, a table last analyzed when
    nearly empty is planned as if it still were until autovacuum comes by, if it is on at all:
    joins sorted on disk, index scans reading every open call."""
    if is_postgresql(session):
        await session.execute(text(f"ANALYZE {', '.join(tables)}"))


async def driver_connection(session: AsyncSession) -> Any:
    """The driver's own connection (asyncpg's or aiosqlite's), inside the session's transaction: the
    driver only joins it once SQLAlchemy has begun it, and a statement of its own before that would
    commit on its own."""
    await session.execute(text("SELECT 1"))
    driver = (await (await session.connection()).get_raw_connection()).driver_connection
    assert driver is not None
    return driver


async def fetch_rows(session: AsyncSession, query: Any) -> Sequence[Sequence[Any]]:
    """Every row of a large read, as tuples. On PostgreSQL straight from the driver: SQLAlchemy's
    per-row result handling would take several times as long over a fan-out's roster. The values
    are as the driver decodes them (text, numbers, JSON), with no column type's result processing:
    for such plain columns only."""
    if not is_postgresql(session):
        return (await core_rows(session, query)).tuples().all()
    compiled = query.compile(dialect=session.bind.dialect, compile_kwargs={"render_postcompile": True})
    parameters = [compiled.params[name] for name in compiled.positiontup or ()]
    return cast(Sequence[Sequence[Any]], await (await driver_connection(session)).fetch(compiled.string, *parameters))


def among(column: Any, values: Iterable[Any]) -> Any:
    """`column IN values`, written for PostgreSQL as `column = ANY($1)`: one array parameter, where
    an IN list renders and binds a placeholder per value (for a thousand ids, dearer than running
    the statement). SQLite gets the IN list."""
    if get_database().is_sqlite:
        return column.in_(list(values))
    return column == any_(bindparam(None, list(values), type_=postgresql.ARRAY(column.type)))


def json_text(value: Any) -> str:
    """JSON for the database's JSON columns (orjson: several times faster than the standard library)."""
    return orjson.dumps(value).decode()


@asynccontextmanager
async def savepoint(session: AsyncSession) -> AsyncIterator[None]:
    """A step that may be refused inside the request's unit of work: on any error it leaves nothing
    behind, and everything read is read again afterwards (a savepoint's rollback expires only what it
    saw change), so the page that says why shows the rows as they stand."""
    try:
        async with session.begin_nested():
            yield
    except Exception:
        session.expire_all()
        raise


def is_postgresql(session: AsyncSession) -> bool:
    """Whether the session's database is PostgreSQL: the one question the db.py modules ask."""
    return session.bind.dialect.name == "postgresql"


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def create_engine(url: str, *, timeout_s: float = 10.0) -> AsyncEngine:
    """An engine tuned for the backend: WAL and foreign keys on SQLite, pooled asyncpg otherwise."""
    if is_sqlite(url):
        engine = create_async_engine(
            url, connect_args={"timeout": timeout_s}, json_serializer=json_text, json_deserializer=orjson.loads
        )

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            # Transactions are begun by hand below; the driver's own implicit BEGIN is switched off.
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA cache_size=-65536")  # 64 MiB of page cache per connection
            cursor.execute(f"PRAGMA busy_timeout={int(timeout_s * 1000)}")
            cursor.close()

        @event.listens_for(engine.sync_engine, "begin")
        def _begin(connection: Any) -> None:
            # SQLite has one writer. A unit of work that may write takes the write lock up front, so
            # a second writer waits (busy_timeout) instead of failing when its read snapshot turns
            # out stale; read-only units begin DEFERRED and, in WAL mode, never wait for writers.
            connection.exec_driver_sql(f"BEGIN {connection.get_execution_options().get('sqlite_begin', 'IMMEDIATE')}")

        return engine
    return create_async_engine(
        url,
        pool_size=10,
        max_overflow=10,
        pool_pre_ping=True,
        json_serializer=json_text,
        json_deserializer=orjson.loads,
        pool_timeout=timeout_s,
        connect_args={"timeout": timeout_s, "command_timeout": 120},
    )


class Database:
    """The process's engine and session factory."""

    def __init__(self, url: str, *, timeout_s: float = 10.0) -> None:
        self.url = url
        self.engine = create_engine(url, timeout_s=timeout_s)
        self.sessionmaker = async_sessionmaker(self.engine, expire_on_commit=False)
        self.read_engine = self.engine.execution_options(sqlite_begin="DEFERRED")
        self.read_sessionmaker = async_sessionmaker(self.read_engine, expire_on_commit=False)

    @property
    def is_sqlite(self) -> bool:
        return is_sqlite(self.url)

    @property
    def one_writer(self) -> bool:
        """Whether the database takes one writer at a time (SQLite): the heartbeat then runs in one
        process at a time, under a lease, and the sender's lanes wait for each other."""
        return is_sqlite(self.url)


_database: Database | None = None


def configure(url: str, *, timeout_s: float = 10.0) -> Database:
    """Create the process's database handle (once per app or worker)."""
    global _database
    _database = Database(url, timeout_s=timeout_s)
    return _database


def get_database() -> Database:
    """The process's database handle."""
    if _database is None:
        raise RuntimeError("database not configured; call app.db.configure() first")
    return _database


@asynccontextmanager
async def session_scope(*, read_only: bool = False) -> AsyncIterator[AsyncSession]:
    """One unit of work: commit on success, roll back on error."""
    database = get_database()
    factory = database.read_sessionmaker if read_only else database.sessionmaker
    async with factory() as session:
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            raise


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """The request's unit of work; GET and HEAD requests read without taking SQLite's write lock."""
    async with session_scope(read_only=request.method in ("GET", "HEAD")) as session:
        yield session


# scope="function": the transaction commits before the response is sent, so a 2xx means stored.
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]
