"""heartbeat evidence: no foreign key to users, no user/lesson indexes

Every heartbeat inserts one ``playback_heartbeats`` row. Its ``user_id`` foreign key made PostgreSQL check
the user's row and lock it (FOR KEY SHARE, a write to that row) at every heartbeat, and two indexes nothing
reads (user_id, lesson_id) were kept up to date at every heartbeat. The row's session still has its
foreign key (ON DELETE CASCADE), and the session has its user's, so deleting a user still deletes their
evidence; evidence is read by session (``ix_playback_heartbeats_session_seq``).

Revision ID: h5route001
Revises: c4material01
Create Date: 2026-11-22 04:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'h5route001'
down_revision = 'c4material01'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('playback_heartbeats', schema=None) as batch_op:
        batch_op.drop_constraint('fk_playback_heartbeats_user_id_users', type_='foreignkey')
        batch_op.drop_index('ix_playback_heartbeats_user_id')
        batch_op.drop_index('ix_playback_heartbeats_lesson_id')


def downgrade():
    with op.batch_alter_table('playback_heartbeats', schema=None) as batch_op:
        batch_op.create_index('ix_playback_heartbeats_lesson_id', ['lesson_id'], unique=False)
        batch_op.create_index('ix_playback_heartbeats_user_id', ['user_id'], unique=False)
        batch_op.create_foreign_key(
            'fk_playback_heartbeats_user_id_users', 'users', ['user_id'], ['id'], ondelete='CASCADE'
        )
