"""Many rows at once, in the session's transaction: COPY on PostgreSQL, executemany on SQLite, with
each column's values converted once and handed straight to the driver (imports, fan-outs, the
record's events)."""

import itertools
from collections.abc import Callable, Iterable, Iterator
from operator import itemgetter
from typing import Any, cast

from sqlalchemy import JSON, Table
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import Base, driver_connection, json_text

# Below this many rows bulk_insert sends one pipelined INSERT on PostgreSQL: a COPY costs more round trips.
FEW_ROWS = 100


def _remembering(process: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """A bind processor that reuses its last result when given the very same object again (bulk rows
    repeat values: the same `now` in every row)."""
    last: list[Any] = [object(), None]

    def convert(value: Any) -> Any:
        if value is not last[0]:
            last[0], last[1] = value, process(value)
        return last[1]

    return convert


def _records(rows: Iterable[dict[str, Any]], columns: list[str], converters: list[Any]) -> Iterator[tuple[Any, ...]]:
    """Rows as tuples in column order, converting only the columns that need it (None stays None)."""
    values = itemgetter(*columns)
    if len(columns) == 1:
        return ((values(row),) for row in rows)
    active = [(index, convert) for index, convert in enumerate(converters) if convert is not None]
    if not active:
        return (values(row) for row in rows)
    return _converted(rows, values, active)


def _converted(
    rows: Iterable[dict[str, Any]], values: Callable[[dict[str, Any]], Any], active: list[tuple[int, Any]]
) -> Iterator[tuple[Any, ...]]:
    for row in rows:
        record = list(values(row))
        for index, convert in active:
            if record[index] is not None:
                record[index] = convert(record[index])
        yield tuple(record)


def _array_of(column: Any, dialect: Any) -> str:
    """The PostgreSQL array type of a scalar column's values, for a parameter unnested into rows."""
    if isinstance(column.type.dialect_impl(dialect), postgresql.ARRAY):
        raise TypeError(f"{column.name}: array columns cannot be unnested into rows; insert them without skipping")
    return column.type.compile(dialect=dialect).split(" COLLATE ")[0] + "[]"


async def bulk_insert(
    session: AsyncSession, model: type[Base], rows: Iterable[dict[str, Any]], *, skip_existing: bool = False
) -> None:
    """Insert many rows in the session's transaction: COPY on PostgreSQL, executemany on SQLite.

    For imports and fan-outs, where SQLAlchemy's per-row parameter handling would dominate: values
    go through each column type's own bind processor once, then straight to the driver. Rows are
    dicts with the same keys; JSON columns take Python values, as with insert(). With
    `skip_existing`, rows whose unique keys are already taken are left out (ON CONFLICT DO NOTHING).

    `rows` may be a generator: on PostgreSQL it is consumed while the COPY streams, so building the
    rows in Python overlaps with the server storing the ones already sent (with `skip_existing`,
    one statement of scalar columns, the rows gathered first).
    """
    iterator = iter(rows)
    first = next(iterator, None)
    if first is None:
        return
    rows = itertools.chain([first], iterator)
    table = cast(Table, model.__table__)
    dialect = session.bind.dialect
    columns = list(first)
    if dialect.name == "postgresql":
        converters = [_remembering(json_text) if isinstance(table.c[n].type, JSON) else None for n in columns]
        records = _records(rows, columns, converters)
        names = ", ".join(f'"{name}"' for name in columns)
        few = list(itertools.islice(records, FEW_ROWS))
        if len(few) < FEW_ROWS and not skip_existing:
            # A handful (a group of answers' events): one pipelined INSERT, a single round trip.
            values = ", ".join(f"${number}" for number in range(1, len(columns) + 1))
            connection = await session.connection()
            await connection.exec_driver_sql(f"INSERT INTO {table.name} ({names}) VALUES ({values})", few)
            return
        records = itertools.chain(few, records)
        driver = await driver_connection(session)
        if not skip_existing:
            await driver.copy_records_to_table(table.name, records=records, columns=columns)
            return
        # Rows already there are left out: one INSERT of the columns as arrays (COPY cannot skip).
        arrays = ", ".join(f"${number}::{_array_of(table.c[name], dialect)}" for number, name in enumerate(columns, 1))
        await driver.execute(
            f"INSERT INTO {table.name} ({names}) SELECT * FROM unnest({arrays}) ON CONFLICT DO NOTHING",
            *(list(column) for column in zip(*records, strict=True)),
        )
        return
    # JSON goes straight to json_text, as on PostgreSQL: the column type's processor would only wrap it.
    processors = [
        json_text
        if isinstance(table.c[name].type, JSON)
        else table.c[name].type.dialect_impl(dialect).bind_processor(dialect)
        for name in columns
    ]
    quote = dialect.identifier_preparer.quote
    names = ", ".join(quote(name) for name in columns)
    verb = "INSERT OR IGNORE" if skip_existing else "INSERT"
    statement = f"{verb} INTO {quote(table.name)} ({names}) VALUES ({', '.join('?' for _ in columns)})"
    connection = await session.connection()
    converters = [_remembering(process) if process is not None else None for process in processors]
    records = _records(rows, columns, converters)
    while chunk := list(itertools.islice(records, 10_000)):
        await connection.exec_driver_sql(statement, chunk)
