"""offline training claims, review steps, evidence and approval authority

Revision ID: 7a01c1a1m5ff
Revises: 258c19fab645
Create Date: 2026-11-22 01:00:00.000000

"""
from datetime import datetime, timezone

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '7a01c1a1m5ff'
down_revision = '258c19fab645'
branch_labels = None
depends_on = None

SEEDED_AT = datetime(2026, 11, 22, 1, 0, tzinfo=timezone.utc)


def upgrade():
    authority = op.create_table('claim_authority',
    sa.Column('org_kind', sa.String(length=16), nullable=False),
    sa.Column('max_hours', sa.Numeric(precision=7, scale=2), nullable=True),
    sa.Column('updated_by_id', sa.Integer(), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['updated_by_id'], ['users.id'], name=op.f('fk_claim_authority_updated_by_id_users')),
    sa.PrimaryKeyConstraint('org_kind', name=op.f('pk_claim_authority'))
    )
    op.create_table('offline_claims',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('org_id', sa.Integer(), nullable=False),
    sa.Column('current_org_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('organizer', sa.String(length=200), nullable=False),
    sa.Column('start_date', sa.Date(), nullable=False),
    sa.Column('end_date', sa.Date(), nullable=False),
    sa.Column('hours', sa.Numeric(precision=7, scale=2), nullable=False),
    sa.Column('category_id', sa.Integer(), nullable=True),
    sa.Column('use', sa.String(length=16), nullable=False),
    sa.Column('note', sa.String(length=1000), nullable=False),
    sa.Column('decision_reason', sa.String(length=300), nullable=False),
    sa.Column('decided_by_id', sa.Integer(), nullable=True),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['category_id'], ['categories.id'], name=op.f('fk_offline_claims_category_id_categories')),
    sa.ForeignKeyConstraint(['current_org_id'], ['organizations.id'], name=op.f('fk_offline_claims_current_org_id_organizations')),
    sa.ForeignKeyConstraint(['decided_by_id'], ['users.id'], name=op.f('fk_offline_claims_decided_by_id_users')),
    sa.ForeignKeyConstraint(['org_id'], ['organizations.id'], name=op.f('fk_offline_claims_org_id_organizations')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_offline_claims_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_offline_claims'))
    )
    with op.batch_alter_table('offline_claims', schema=None) as batch_op:
        batch_op.create_index('ix_offline_claims_current_org_status', ['current_org_id', 'status'], unique=False)
        batch_op.create_index(batch_op.f('ix_offline_claims_org_id'), ['org_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_offline_claims_user_id'), ['user_id'], unique=False)

    op.create_table('claim_evidence',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('claim_id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=500), nullable=False),
    sa.Column('filename', sa.String(length=200), nullable=False),
    sa.Column('content_type', sa.String(length=64), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['claim_id'], ['offline_claims.id'], name=op.f('fk_claim_evidence_claim_id_offline_claims'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_claim_evidence'))
    )
    with op.batch_alter_table('claim_evidence', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_claim_evidence_claim_id'), ['claim_id'], unique=False)

    op.create_table('claim_steps',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('claim_id', sa.Integer(), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('action', sa.String(length=16), nullable=False),
    sa.Column('from_org_id', sa.Integer(), nullable=True),
    sa.Column('to_org_id', sa.Integer(), nullable=True),
    sa.Column('reason', sa.String(length=300), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['actor_id'], ['users.id'], name=op.f('fk_claim_steps_actor_id_users')),
    sa.ForeignKeyConstraint(['claim_id'], ['offline_claims.id'], name=op.f('fk_claim_steps_claim_id_offline_claims'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['from_org_id'], ['organizations.id'], name=op.f('fk_claim_steps_from_org_id_organizations')),
    sa.ForeignKeyConstraint(['to_org_id'], ['organizations.id'], name=op.f('fk_claim_steps_to_org_id_organizations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_claim_steps'))
    )
    with op.batch_alter_table('claim_steps', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_claim_steps_claim_id'), ['claim_id'], unique=False)

    # The default authority of each level's admins (hours per claim; NULL: no limit). System admins
    # change it through PUT /api/v1/claims/authority/<org kind>.
    op.bulk_insert(
        authority,
        [
            {'org_kind': 'unit', 'max_hours': 8, 'updated_at': SEEDED_AT},
            {'org_kind': 'township', 'max_hours': 16, 'updated_at': SEEDED_AT},
            {'org_kind': 'county', 'max_hours': 24, 'updated_at': SEEDED_AT},
            {'org_kind': 'city', 'max_hours': 80, 'updated_at': SEEDED_AT},
            {'org_kind': 'province', 'max_hours': None, 'updated_at': SEEDED_AT},
        ],
    )


def downgrade():
    with op.batch_alter_table('claim_steps', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_claim_steps_claim_id'))

    op.drop_table('claim_steps')
    with op.batch_alter_table('claim_evidence', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_claim_evidence_claim_id'))

    op.drop_table('claim_evidence')
    with op.batch_alter_table('offline_claims', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_offline_claims_user_id'))
        batch_op.drop_index(batch_op.f('ix_offline_claims_org_id'))
        batch_op.drop_index('ix_offline_claims_current_org_status')

    op.drop_table('offline_claims')
    op.drop_table('claim_authority')
