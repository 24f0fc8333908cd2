"""tallies: each warning's calls by kind and status, and its regions by county and state, kept by
the database on PostgreSQL; the silent list and the regions to confirm read in order from indexes

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-23 05:00:00

On PostgreSQL, statement-level triggers with transition tables fold every insert, update and
delete of calls and warning_regions into the tallies: one upsert per statement and changed group,
whatever the number of rows, in the writer's transaction (so the tallies are exactly as current
as the rows). Rows are upserted in key order, so writers touching the same groups queue rather
than deadlock. SQLite counts the rows themselves (see app.warning.tally).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0009'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (table, tally, its key columns as computed from a row, the counted columns as computed from a row)
TALLIES = (
    ('calls', 'call_tallies', ('warning_id', 'kind', 'status'), {'calls': '1', 'attempts': 'attempts'}),
    ('warning_regions', 'region_tallies',
     ('warning_id', 'substr(region_code, 1, 6) AS county', 'state', 'escalated_at IS NOT NULL AS escalated'),
     {'regions': '1'}),
)  # fmt: skip


def _statements(table: str, tally: str, keys: tuple[str, ...], counted: dict[str, str]) -> list[str]:
    """The function folding a statement's rows into the tally, and its three triggers."""
    names = [key.split(' AS ')[-1] for key in keys]
    key_list = ', '.join(names)

    def rows(source: str, sign: str) -> str:
        values = ', '.join(f'{sign}{expression} AS {name}' for name, expression in counted.items())
        return f'SELECT {", ".join(keys)}, {values} FROM {source}'

    sums = ', '.join(f'sum({name})' for name in counted)
    changed = ' OR '.join(f'sum({name}) <> 0' for name in counted)
    updates = ', '.join(f'{name} = t.{name} + excluded.{name}' for name in counted)

    def upsert(changes: str) -> str:
        return (
            f'INSERT INTO {tally} AS t ({key_list}, {", ".join(counted)})'
            f' SELECT {key_list}, {sums} FROM ({changes}) AS change'
            f' GROUP BY {key_list} HAVING {changed} ORDER BY {key_list}'
            f' ON CONFLICT ({key_list}) DO UPDATE SET {updates};'
        )

    function = f"""
CREATE FUNCTION tally_{table}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    {upsert(rows('new_rows', ''))}
  ELSIF TG_OP = 'UPDATE' THEN
    {upsert(rows('new_rows', '') + ' UNION ALL ' + rows('old_rows', '-'))}
  ELSE
    {upsert(rows('old_rows', '-'))}
  END IF;
  RETURN NULL;
END $$"""
    transitions = {
        'INSERT': 'NEW TABLE AS new_rows',
        'UPDATE': 'OLD TABLE AS old_rows NEW TABLE AS new_rows',
        'DELETE': 'OLD TABLE AS old_rows',
    }
    return [function] + [
        f'CREATE TRIGGER {table}_tally_{event.lower()} AFTER {event} ON {table} REFERENCING {tables}'
        f' FOR EACH STATEMENT EXECUTE FUNCTION tally_{table}()'
        for event, tables in transitions.items()
    ]


def upgrade() -> None:
    op.create_table(
        'call_tallies',
        sa.Column('warning_id', sa.String(length=26), nullable=False),
        sa.Column('kind', sa.String(length=12), nullable=False),
        sa.Column('status', sa.String(length=12), nullable=False),
        sa.Column('calls', sa.BigInteger(), nullable=False),
        sa.Column('attempts', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('warning_id', 'kind', 'status', name=op.f('pk_call_tallies')),
    )
    op.create_table(
        'region_tallies',
        sa.Column('warning_id', sa.String(length=26), nullable=False),
        sa.Column('county', sa.String(length=6), nullable=False),
        sa.Column('state', sa.String(length=12), nullable=False),
        sa.Column('escalated', sa.Boolean(), nullable=False),
        sa.Column('regions', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('warning_id', 'county', 'state', 'escalated', name=op.f('pk_region_tallies')),
    )
    with op.batch_alter_table('calls', schema=None) as batch_op:
        batch_op.create_index(
            'ix_calls_warning_id_status_region', ['warning_id', 'status', 'contact_region_code'], unique=False
        )
        batch_op.drop_index('ix_calls_warning_id_status')
    to_confirm = sa.text("(state IN ('uncovered', 'unreachable') OR escalated_at IS NOT NULL)")
    with op.batch_alter_table('warning_regions', schema=None) as batch_op:
        batch_op.create_index(
            'ix_warning_regions_to_confirm', ['warning_id', 'region_code'], unique=False,
            postgresql_where=to_confirm, sqlite_where=to_confirm,
        )  # fmt: skip
    if op.get_bind().dialect.name != 'postgresql':
        return
    # No write may fall between the counting and the triggers: it would never be counted.
    op.execute('LOCK TABLE calls, warning_regions IN SHARE ROW EXCLUSIVE MODE')
    for table, tally, keys, counted in TALLIES:
        names = [key.split(' AS ')[-1] for key in keys]
        values = ', '.join(f'sum({expression})' for expression in counted.values())
        op.execute(
            f'INSERT INTO {tally} ({", ".join(names)}, {", ".join(counted)})'
            f' SELECT {", ".join(names)}, {values} FROM (SELECT {", ".join(keys)}, {", ".join(counted.values())}'
            f' FROM {table}) AS present GROUP BY {", ".join(names)}'
        )
        for statement in _statements(table, tally, keys, counted):
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        for table, _, _, _ in TALLIES:
            for event in ('insert', 'update', 'delete'):
                op.execute(f'DROP TRIGGER {table}_tally_{event} ON {table}')
            op.execute(f'DROP FUNCTION tally_{table}()')
    with op.batch_alter_table('warning_regions', schema=None) as batch_op:
        batch_op.drop_index('ix_warning_regions_to_confirm')
    with op.batch_alter_table('calls', schema=None) as batch_op:
        batch_op.create_index('ix_calls_warning_id_status', ['warning_id', 'status'], unique=False)
        batch_op.drop_index('ix_calls_warning_id_status_region')
    op.drop_table('region_tallies')
    op.drop_table('call_tallies')
