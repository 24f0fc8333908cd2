"""the chain: policies, warnings, calls, feedback, the outbox

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 20:51:46.610620
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# DOMAIN.md's default policies, as they stood when this revision was written.
DEFAULTS = {
    "red": {"reach": ["county", "township", "village"], "ack_timeout_s": 300, "max_attempts": 4,
            "channels_by_attempt": [["sms", "voice"]], "escalate": True, "escalate_above_county": False},
    "orange": {"reach": ["county", "township", "village"], "ack_timeout_s": 600, "max_attempts": 4,
               "channels_by_attempt": [["sms"], ["voice"]], "escalate": True, "escalate_above_county": False},
    "yellow": {"reach": ["township", "village"], "ack_timeout_s": 1800, "max_attempts": 2,
               "channels_by_attempt": [["sms"], ["voice"]], "escalate": True, "escalate_above_county": False},
    "blue": {"reach": ["township", "village"], "ack_timeout_s": 7200, "max_attempts": 1,
             "channels_by_attempt": [["sms"]], "escalate": False, "escalate_above_county": False},
}  # fmt: skip


def upgrade() -> None:
    op.create_table('console_outbox',
    sa.Column('seq', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('message_id', sa.String(length=26), nullable=False),
    sa.Column('call_id', sa.String(length=26), nullable=False),
    sa.Column('warning_id', sa.String(length=26), nullable=False),
    sa.Column('kind', sa.String(length=12), nullable=False),
    sa.Column('channel', sa.String(length=8), nullable=False),
    sa.Column('to', sa.String(length=20), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('ack_url', sa.Text(), nullable=True),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('seq', name=op.f('pk_console_outbox')),
    sa.UniqueConstraint('message_id', name=op.f('uq_console_outbox_message_id'))
    )
    with op.batch_alter_table('console_outbox', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_console_outbox_warning_id'), ['warning_id'], unique=False)

    op.create_table('policies',
    sa.Column('level', sa.String(length=10), nullable=False),
    sa.Column('reach', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=False),
    sa.Column('ack_timeout_s', sa.Float(), nullable=False),
    sa.Column('max_attempts', sa.Integer(), nullable=False),
    sa.Column('channels_by_attempt', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=False),
    sa.Column('escalate', sa.Boolean(), nullable=False),
    sa.Column('escalate_above_county', sa.Boolean(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_by', sa.String(length=100), nullable=False),
    sa.PrimaryKeyConstraint('level', name=op.f('pk_policies'))
    )
    policies = sa.table(
        "policies",
        sa.column("level", sa.String),
        sa.column("reach", sa.JSON),
        sa.column("ack_timeout_s", sa.Float),
        sa.column("max_attempts", sa.Integer),
        sa.column("channels_by_attempt", sa.JSON),
        sa.column("escalate", sa.Boolean),
        sa.column("escalate_above_county", sa.Boolean),
        sa.column("updated_at", sa.DateTime(timezone=True)),
        sa.column("updated_by", sa.String),
    )
    now = datetime.now(UTC)
    op.bulk_insert(
        policies,
        [{"level": level, **policy, "updated_at": now, "updated_by": "defaults"} for level, policy in DEFAULTS.items()],
    )
    op.create_table('warnings',
    sa.Column('id', sa.String(length=26), nullable=False),
    sa.Column('hazard', sa.String(length=50), nullable=False),
    sa.Column('level', sa.String(length=10), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('instruction', sa.Text(), nullable=True),
    sa.Column('area_codes', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=False),
    sa.Column('area_paths', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=False),
    sa.Column('onset', sa.DateTime(timezone=True), nullable=True),
    sa.Column('expires', sa.DateTime(timezone=True), nullable=True),
    sa.Column('mode', sa.String(length=10), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('policy', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=False),
    sa.Column('targeted_regions', sa.Integer(), nullable=False),
    sa.Column('uncovered_area_codes', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=100), nullable=False),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('close_reason', sa.Text(), nullable=True),
    sa.Column('close_kind', sa.String(length=12), nullable=True),
    sa.Column('supersedes', sa.String(length=26), nullable=True),
    sa.Column('superseded_by', sa.String(length=26), nullable=True),
    sa.ForeignKeyConstraint(['superseded_by'], ['warnings.id'], name=op.f('fk_warnings_superseded_by_warnings')),
    sa.ForeignKeyConstraint(['supersedes'], ['warnings.id'], name=op.f('fk_warnings_supersedes_warnings')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_warnings'))
    )
    with op.batch_alter_table('warnings', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_warnings_expires'), ['expires'], unique=False)
        batch_op.create_index('ix_warnings_status_created_at', ['status', 'created_at'], unique=False)

    op.create_table('idempotency_keys',
    sa.Column('scope', sa.String(length=40), nullable=False),
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('body_hash', sa.String(length=64), nullable=False),
    sa.Column('warning_id', sa.String(length=26), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['warning_id'], ['warnings.id'], name=op.f('fk_idempotency_keys_warning_id_warnings')),
    sa.PrimaryKeyConstraint('scope', 'key', name=op.f('pk_idempotency_keys'))
    )
    with op.batch_alter_table('idempotency_keys', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_idempotency_keys_created_at'), ['created_at'], unique=False)

    op.create_table('warning_regions',
    sa.Column('warning_id', sa.String(length=26), nullable=False),
    sa.Column('region_code', sa.String(length=12), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('level', sa.String(length=12), nullable=False),
    sa.Column('parent_code', sa.String(length=12), nullable=True),
    sa.Column('state', sa.String(length=12), nullable=False),
    sa.Column('reached_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('reached_by', sa.String(length=20), nullable=True),
    sa.ForeignKeyConstraint(['warning_id'], ['warnings.id'], name=op.f('fk_warning_regions_warning_id_warnings')),
    sa.PrimaryKeyConstraint('warning_id', 'region_code', name=op.f('pk_warning_regions'))
    )
    with op.batch_alter_table('warning_regions', schema=None) as batch_op:
        batch_op.create_index('ix_warning_regions_warning_id_state', ['warning_id', 'state'], unique=False)

    op.create_table('calls',
    sa.Column('id', sa.String(length=26), nullable=False),
    sa.Column('warning_id', sa.String(length=26), nullable=False),
    sa.Column('kind', sa.String(length=12), nullable=False),
    sa.Column('contact_id', sa.String(length=26), nullable=False),
    sa.Column('contact_name', sa.String(length=100), nullable=False),
    sa.Column('contact_phone', sa.String(length=20), nullable=False),
    sa.Column('contact_region_code', sa.String(length=12), nullable=False),
    sa.Column('contact_role', sa.String(length=50), nullable=False),
    sa.Column('contact_rank', sa.Integer(), nullable=False),
    sa.Column('channels', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=False),
    sa.Column('region_codes', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=False),
    sa.Column('about_region_codes', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=False),
    sa.Column('escalated_from', sa.String(length=26), nullable=True),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('deadline_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('notified_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('acknowledged_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('ack_method', sa.String(length=12), nullable=True),
    sa.Column('ack_note', sa.Text(), nullable=True),
    sa.Column('ack_by', sa.String(length=100), nullable=True),
    sa.Column('late', sa.Boolean(), nullable=False),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('feedback_count', sa.Integer(), nullable=False),
    sa.Column('final_feedback_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_calls')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_calls_token_hash'))
    )
    with op.batch_alter_table('calls', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_calls_contact_id'), ['contact_id'], unique=False)
        batch_op.create_index('ix_calls_contact_phone_status', ['contact_phone', 'status'], unique=False)
        batch_op.create_index('ix_calls_next_attempt_at', ['next_attempt_at'], unique=False)
        batch_op.create_index(
            "ix_calls_open_deadline_at",
            ["deadline_at"],
            unique=False,
            postgresql_where=sa.text("status IN ('pending', 'notified')"),
            sqlite_where=sa.text("status IN ('pending', 'notified')"),
        )
        batch_op.create_index('ix_calls_warning_id_status', ['warning_id', 'status'], unique=False)

    op.create_table('feedback',
    sa.Column('id', sa.String(length=26), nullable=False),
    sa.Column('call_id', sa.String(length=26), nullable=False),
    sa.Column('warning_id', sa.String(length=26), nullable=False),
    sa.Column('stage', sa.String(length=12), nullable=False),
    sa.Column('actions', sa.Text(), nullable=False),
    sa.Column('evacuated', sa.Integer(), nullable=True),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['call_id'], ['calls.id'], name=op.f('fk_feedback_call_id_calls')),
    sa.ForeignKeyConstraint(['warning_id'], ['warnings.id'], name=op.f('fk_feedback_warning_id_warnings')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_feedback'))
    )
    with op.batch_alter_table('feedback', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_feedback_call_id'), ['call_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_feedback_warning_id'), ['warning_id'], unique=False)

    op.create_table('messages',
    sa.Column('id', sa.String(length=26), nullable=False),
    sa.Column('call_id', sa.String(length=26), nullable=False),
    sa.Column('warning_id', sa.String(length=26), nullable=False),
    sa.Column('kind', sa.String(length=12), nullable=False),
    sa.Column('channel', sa.String(length=8), nullable=False),
    sa.Column('to', sa.String(length=20), nullable=False),
    sa.Column('attempt', sa.Integer(), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('with_link', sa.Boolean(), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('due_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('claimed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_messages'))
    )
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.create_index('ix_messages_call_id', ['call_id'], unique=False)
        batch_op.create_index('ix_messages_status_due_at', ['status', 'due_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_messages_warning_id'), ['warning_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_messages_warning_id'))
        batch_op.drop_index('ix_messages_status_due_at')
        batch_op.drop_index('ix_messages_call_id')

    op.drop_table('messages')
    with op.batch_alter_table('feedback', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_feedback_warning_id'))
        batch_op.drop_index(batch_op.f('ix_feedback_call_id'))

    op.drop_table('feedback')
    with op.batch_alter_table('calls', schema=None) as batch_op:
        batch_op.drop_index('ix_calls_warning_id_status')
        batch_op.drop_index("ix_calls_open_deadline_at")
        batch_op.drop_index('ix_calls_next_attempt_at')
        batch_op.drop_index('ix_calls_contact_phone_status')
        batch_op.drop_index(batch_op.f('ix_calls_contact_id'))

    op.drop_table('calls')
    with op.batch_alter_table('warning_regions', schema=None) as batch_op:
        batch_op.drop_index('ix_warning_regions_warning_id_state')

    op.drop_table('warning_regions')
    with op.batch_alter_table('idempotency_keys', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_idempotency_keys_created_at'))

    op.drop_table('idempotency_keys')
    with op.batch_alter_table('warnings', schema=None) as batch_op:
        batch_op.drop_index('ix_warnings_status_created_at')
        batch_op.drop_index(batch_op.f('ix_warnings_expires'))

    op.drop_table('warnings')
    op.drop_table('policies')
    with op.batch_alter_table('console_outbox', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_console_outbox_warning_id'))

    op.drop_table('console_outbox')
