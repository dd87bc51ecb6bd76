"""reports: monthly ledger summary kept by triggers, 学习排行 switch per unit

Revision ID: r7summary001
Revises: 7a01c1a1m5ff
Create Date: 2026-11-22 02:00:00.000000

``ledger_month_totals`` (see lms/reports/models.py) is maintained by row triggers on ``ledger_entries`` on
both PostgreSQL and SQLite, in the writing transaction, with INSERT … ON CONFLICT DO UPDATE adding to the
sums (no lost updates). It is filled from the existing ledger here. The SQL below is written out on purpose
(a migration must not change when the application's code does); ``lms.reports.summary`` computes the same
sums for ``flask reports rebuild-summary`` and the tests compare the two.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'r7summary001'
down_revision = '7a01c1a1m5ff'
branch_labels = None
depends_on = None

COLUMNS = (
    'total', 'required', 'src_online_course', 'src_test', 'src_class', 'src_offline_claim',
    'cat_theory', 'cat_party', 'cat_professional', 'cat_knowledge', 'cat_other',
)
TOPS = {'cat_theory': 'THEORY', 'cat_party': 'PARTY_SPIRIT', 'cat_professional': 'PROFESSIONAL',
        'cat_knowledge': 'KNOWLEDGE'}


def _top(category: str) -> str:
    """The code of the top-level category of ``category`` (categories nest at most four deep)."""
    return f"""(SELECT CASE WHEN c1.parent_id IS NULL THEN c1.code WHEN c2.parent_id IS NULL THEN c2.code
                        WHEN c3.parent_id IS NULL THEN c3.code WHEN c4.parent_id IS NULL THEN c4.code END
              FROM categories c1 LEFT JOIN categories c2 ON c2.id = c1.parent_id
              LEFT JOIN categories c3 ON c3.id = c2.parent_id LEFT JOIN categories c4 ON c4.id = c3.parent_id
              WHERE c1.id = {category})"""


def _amounts(row: str, top: str, pg: bool) -> dict[str, str]:
    """Each summary column's amount for one ledger row (centi-hours)."""
    h = f"CAST(ROUND({row}.hours * 100) AS {'BIGINT' if pg else 'INTEGER'})"
    values = {
        'total': h,
        'required': f"CASE WHEN {row}.use = 'required' THEN {h} ELSE 0 END",
    }
    for source in ('online_course', 'test', 'class', 'offline_claim'):
        values[f'src_{source}'] = f"CASE WHEN {row}.source_kind = '{source}' THEN {h} ELSE 0 END"
    for column, code in TOPS.items():
        values[column] = f"CASE WHEN {top} = '{code}' THEN {h} ELSE 0 END"
    known = ', '.join(f"'{c}'" for c in TOPS.values())
    values['cat_other'] = f"CASE WHEN {top} IS NULL OR {top} NOT IN ({known}) THEN {h} ELSE 0 END"
    return values


def _month(row: str, pg: bool) -> str:
    if pg:
        return f"CAST(to_char({row}.created_at AT TIME ZONE 'Asia/Shanghai', 'YYYYMM') AS INTEGER)"
    return f"CAST(strftime('%Y%m', {row}.created_at, '+8 hours') AS INTEGER)"


def _add(row: str, pg: bool) -> str:
    """Upsert one ledger row's amounts (``row`` is NEW)."""
    amounts = _amounts(row, 'x.top', pg)
    names = ', '.join(COLUMNS)
    exprs = ', '.join(amounts[c] for c in COLUMNS)
    sets = ', '.join(f'{c} = ledger_month_totals.{c} + excluded.{c}' for c in COLUMNS)
    return f"""INSERT INTO ledger_month_totals (user_id, month, entries, {names})
    SELECT {row}.user_id, {_month(row, pg)}, 1, {exprs}
    FROM (SELECT {_top(f'{row}.category_id')} AS top) AS x WHERE true
    ON CONFLICT (user_id, month) DO UPDATE SET entries = ledger_month_totals.entries + 1, {sets};"""


def _subtract(row: str, pg: bool) -> str:
    """Take one ledger row's amounts out again (``row`` is OLD); a month left with no rows goes."""
    amounts = _amounts(row, _top(f'{row}.category_id'), pg)
    sets = ', '.join(f'{c} = {c} - {amounts[c]}' for c in COLUMNS)
    where = f'user_id = {row}.user_id AND month = {_month(row, pg)}'
    return f"""UPDATE ledger_month_totals SET entries = entries - 1, {sets} WHERE {where};
    DELETE FROM ledger_month_totals WHERE {where} AND entries <= 0;"""


def _fill(pg: bool) -> str:
    amounts = _amounts('e', 'e.top', pg)
    names = ', '.join(COLUMNS)
    sums = ', '.join(f'SUM({amounts[c]})' for c in COLUMNS)
    return f"""INSERT INTO ledger_month_totals (user_id, month, entries, {names})
    SELECT e.user_id, {_month('e', pg)}, COUNT(*), {sums}
    FROM (SELECT l.*, {_top('l.category_id')} AS top FROM ledger_entries l) AS e
    GROUP BY e.user_id, {_month('e', pg)}"""


def upgrade():
    op.create_table('ledger_month_totals',
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('month', sa.Integer(), nullable=False),
    sa.Column('entries', sa.Integer(), nullable=False),
    *(sa.Column(c, sa.BigInteger(), nullable=False) for c in COLUMNS),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_ledger_month_totals_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('user_id', 'month', name=op.f('pk_ledger_month_totals'))
    )
    op.create_table('leaderboard_settings',
    sa.Column('org_id', sa.Integer(), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('updated_by_id', sa.Integer(), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['org_id'], ['organizations.id'], name=op.f('fk_leaderboard_settings_org_id_organizations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['updated_by_id'], ['users.id'], name=op.f('fk_leaderboard_settings_updated_by_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('org_id', name=op.f('pk_leaderboard_settings'))
    )
    pg = op.get_bind().dialect.name == 'postgresql'
    if pg:
        op.execute(f"""CREATE FUNCTION ledger_month_totals_sync() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        {_subtract('OLD', pg)}
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        {_add('NEW', pg)}
    END IF;
    RETURN NULL;
END $$""")
        op.execute('CREATE TRIGGER ledger_month_totals_sync AFTER INSERT OR UPDATE OR DELETE ON ledger_entries'
                   ' FOR EACH ROW EXECUTE FUNCTION ledger_month_totals_sync()')
    else:
        op.execute(f'CREATE TRIGGER ledger_month_totals_insert AFTER INSERT ON ledger_entries BEGIN\n'
                   f'{_add("NEW", pg)}\nEND')
        op.execute(f'CREATE TRIGGER ledger_month_totals_delete AFTER DELETE ON ledger_entries BEGIN\n'
                   f'{_subtract("OLD", pg)}\nEND')
        op.execute(f'CREATE TRIGGER ledger_month_totals_update AFTER UPDATE ON ledger_entries BEGIN\n'
                   f'{_subtract("OLD", pg)}\n{_add("NEW", pg)}\nEND')
    op.execute(_fill(pg))


def downgrade():
    if op.get_bind().dialect.name == 'postgresql':
        op.execute('DROP TRIGGER ledger_month_totals_sync ON ledger_entries')
        op.execute('DROP FUNCTION ledger_month_totals_sync()')
    else:
        for name in ('insert', 'delete', 'update'):
            op.execute(f'DROP TRIGGER ledger_month_totals_{name}')
    op.drop_table('leaderboard_settings')
    op.drop_table('ledger_month_totals')
