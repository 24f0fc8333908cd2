"""foundation: regions, contacts, keys and the audit record

Revision ID: 0001
Revises:
Create Date: 2026-11-22 20:44:11.088879
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0001'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('audit_chain_heads',
    sa.Column('chain', sa.String(length=60), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.Column('length', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('chain', name=op.f('pk_audit_chain_heads'))
    )
    op.create_table('audit_events',
    sa.Column('seq', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('type', sa.String(length=40), nullable=False),
    sa.Column('chain', sa.String(length=60), nullable=False),
    sa.Column('warning_id', sa.String(length=26), nullable=True),
    sa.Column('call_id', sa.String(length=26), nullable=True),
    sa.Column('region_code', sa.String(length=12), nullable=True),
    sa.Column('actor', sa.String(length=100), nullable=False),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.Column('prev_hash', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('seq', name=op.f('pk_audit_events'))
    )
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.create_index('ix_audit_events_at', ['at'], unique=False)
        batch_op.create_index('ix_audit_events_chain_seq', ['chain', 'seq'], unique=False)
        batch_op.create_index('ix_audit_events_region_code_seq', ['region_code', 'seq'], unique=False)
        batch_op.create_index('ix_audit_events_warning_id_seq', ['warning_id', 'seq'], unique=False)

    op.create_table('regions',
    sa.Column('code', sa.String(length=12), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('level', sa.String(length=12), nullable=False),
    sa.Column('parent_code', sa.String(length=12), nullable=True),
    sa.Column('path', sa.String().with_variant(sa.String(collation='C'), 'postgresql'), nullable=False),
    sa.Column('abolished', sa.Boolean(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("level IN ('province', 'prefecture', 'county', 'township', 'village')", name=op.f('ck_regions_level')),
    sa.PrimaryKeyConstraint('code', name=op.f('pk_regions'))
    )
    with op.batch_alter_table('regions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_regions_parent_code'), ['parent_code'], unique=False)
        batch_op.create_index(batch_op.f('ix_regions_path'), ['path'], unique=False)

    op.create_table('api_keys',
    sa.Column('id', sa.String(length=26), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('role', sa.String(length=20), nullable=False),
    sa.Column('region_code', sa.String(length=12), nullable=True),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=100), nullable=False),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("role IN ('admin', 'duty_officer', 'auditor')", name=op.f('ck_api_keys_role')),
    sa.ForeignKeyConstraint(['region_code'], ['regions.code'], name=op.f('fk_api_keys_region_code_regions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_api_keys')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_api_keys_token_hash'))
    )
    op.create_table('contacts',
    sa.Column('id', sa.String(length=26), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('phone', sa.String(length=20), nullable=False),
    sa.Column('region_code', sa.String(length=12), nullable=False),
    sa.Column('role', sa.String(length=50), nullable=False),
    sa.Column('rank', sa.Integer(), nullable=False),
    sa.Column('channels', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('deactivated_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['region_code'], ['regions.code'], name=op.f('fk_contacts_region_code_regions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_contacts')),
    sa.UniqueConstraint('phone', 'region_code', name=op.f('uq_contacts_phone_region_code'))
    )
    with op.batch_alter_table('contacts', schema=None) as batch_op:
        batch_op.create_index('ix_contacts_region_code_active', ['region_code', 'active'], unique=False)

    op.create_table('contact_supervisions',
    sa.Column('contact_id', sa.String(length=26), nullable=False),
    sa.Column('region_code', sa.String(length=12), nullable=False),
    sa.ForeignKeyConstraint(['contact_id'], ['contacts.id'], name=op.f('fk_contact_supervisions_contact_id_contacts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['region_code'], ['regions.code'], name=op.f('fk_contact_supervisions_region_code_regions')),
    sa.PrimaryKeyConstraint('contact_id', 'region_code', name=op.f('pk_contact_supervisions'))
    )
    with op.batch_alter_table('contact_supervisions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_contact_supervisions_region_code'), ['region_code'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('contact_supervisions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_contact_supervisions_region_code'))

    op.drop_table('contact_supervisions')
    with op.batch_alter_table('contacts', schema=None) as batch_op:
        batch_op.drop_index('ix_contacts_region_code_active')

    op.drop_table('contacts')
    op.drop_table('api_keys')
    with op.batch_alter_table('regions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_regions_path'))
        batch_op.drop_index(batch_op.f('ix_regions_parent_code'))

    op.drop_table('regions')
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_events_warning_id_seq')
        batch_op.drop_index('ix_audit_events_region_code_seq')
        batch_op.drop_index('ix_audit_events_chain_seq')
        batch_op.drop_index('ix_audit_events_at')

    op.drop_table('audit_events')
    op.drop_table('audit_chain_heads')
