"""reports: ledger summaries by cadre and month and by cadre and year kept by triggers, 学习排行 switch

Revision ID: r7summary001
Revises: 7a01c1a1m5ff
Create Date: 2026-11-22 02:00:00.000000

``ledger_month_totals`` and ``ledger_year_totals`` (see lms/reports/models.py) are maintained by row
triggers on ``ledger_entries`` on both PostgreSQL and SQLite, in the writing transaction, with
INSERT … ON CONFLICT DO UPDATE adding to the sums (no lost updates). They are filled from the existing
ledger here. The SQL below is written out on purpose (a migration must not change when the application's
code does); ``lms.reports.summary`` computes the same sums for ``flask reports rebuild-summary`` and the
tests compare the two.
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


# The code of category c1's top-level category (categories nest at most four deep).
TOP_CASE = """CASE WHEN c1.parent_id IS NULL THEN c1.code WHEN c2.parent_id IS NULL THEN c2.code
    WHEN c3.parent_id IS NULL THEN c3.code WHEN c4.parent_id IS NULL THEN c4.code END"""
TOP_JOINS = """categories c1 LEFT JOIN categories c2 ON c2.id = c1.parent_id
    LEFT JOIN categories c3 ON c3.id = c2.parent_id LEFT JOIN categories c4 ON c4.id = c3.parent_id"""


def _top(category: str) -> str:
    return f"(SELECT {TOP_CASE} FROM {TOP_JOINS} WHERE c1.id = {category})"


def _amounts(row: str, top: str, pg: bool) -> dict[str, str]:
    """Each summary column's amount for one ledger row (centi-hours)."""
    h = f"CAST(ROUND({row}.hours * 100) AS INTEGER)"
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


# (table, key column, key of a ledger row given its month expression)
GRAINS = (
    ('ledger_month_totals', 'month', lambda month: month),
    ('ledger_year_totals', 'year', lambda month: f'({month}) / 100'),
)


def _add(row: str, pg: bool) -> str:
    """Upsert one ledger row's amounts into both grains (``row`` is NEW)."""
    amounts = _amounts(row, 'x.top', pg)
    names = ', '.join(COLUMNS)
    exprs = ', '.join(amounts[c] for c in COLUMNS)
    statements = []
    for table, key, of in GRAINS:
        sets = ', '.join(f'{c} = {table}.{c} + excluded.{c}' for c in COLUMNS)
        statements.append(f"""INSERT INTO {table} (user_id, {key}, entries, {names})
    SELECT {row}.user_id, {of(_month(row, pg))}, 1, {exprs}
    FROM (SELECT {_top(f'{row}.category_id')} AS top) AS x WHERE true
    ON CONFLICT (user_id, {key}) DO UPDATE SET entries = {table}.entries + 1, {sets};""")
    return '\n'.join(statements)


def _subtract(row: str, pg: bool) -> str:
    """Take one ledger row's amounts out again (``row`` is OLD); a month or year left with no rows goes."""
    amounts = _amounts(row, _top(f'{row}.category_id'), pg)
    sets = ', '.join(f'{c} = {c} - {amounts[c]}' for c in COLUMNS)
    statements = []
    for table, key, of in GRAINS:
        where = f'user_id = {row}.user_id AND {key} = {of(_month(row, pg))}'
        statements.append(f"""UPDATE {table} SET entries = entries - 1, {sets} WHERE {where};
    DELETE FROM {table} WHERE {where} AND entries <= 0;""")
    return '\n'.join(statements)


def _fill(pg: bool) -> list[str]:
    amounts = _amounts('e', 'e.top', pg)
    names = ', '.join(COLUMNS)
    sums = ', '.join(f'SUM({amounts[c]})' for c in COLUMNS)
    return [
        f"""INSERT INTO ledger_month_totals (user_id, month, entries, {names})
    SELECT e.user_id, {_month('e', pg)}, COUNT(*), {sums}
    FROM (SELECT l.*, t.top FROM ledger_entries l
          LEFT JOIN (SELECT c1.id, {TOP_CASE} AS top FROM {TOP_JOINS}) t ON t.id = l.category_id) AS e
    GROUP BY e.user_id, {_month('e', pg)}""",
        f"""INSERT INTO ledger_year_totals (user_id, year, entries, {names})
    SELECT user_id, month / 100, SUM(entries), {', '.join(f'SUM({c})' for c in COLUMNS)}
    FROM ledger_month_totals GROUP BY user_id, month / 100""",
    ]


def _summary_table(table: str, key: str) -> None:
    op.create_table(table,
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column(key, sa.Integer(), nullable=False),
    sa.Column('entries', sa.Integer(), nullable=False),
    *(sa.Column(c, sa.Integer(), nullable=False) for c in COLUMNS),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f(f'fk_{table}_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('user_id', key, name=op.f(f'pk_{table}'))
    )


def upgrade():
    _summary_table('ledger_month_totals', 'month')
    _summary_table('ledger_year_totals', 'year')
    # One month for everyone (a period's edge month of a province report); by cadre is the primary key.
    with op.batch_alter_table('ledger_month_totals', schema=None) as batch_op:
        batch_op.create_index('ix_ledger_month_totals_month', ['month'], unique=False)
    op.create_table('leaderboard_settings',
    sa.Column('org_id', sa.Integer(), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('updated_by_id', sa.Integer(), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['org_id'], ['organizations.id'], name=op.f('fk_leaderboard_settings_org_id_organizations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['updated_by_id'], ['users.id'], name=op.f('fk_leaderboard_settings_updated_by_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('org_id', name=op.f('pk_leaderboard_settings'))
    )
    # The raw ledger rows of a period's edge days: one cadre's (reports by unit, the daily cap) and
    # everyone's (a province report); PostgreSQL reads them from the index alone.
    covered = ['hours', 'use', 'source_kind', 'category_id']
    with op.batch_alter_table('ledger_entries', schema=None) as batch_op:
        batch_op.create_index('ix_ledger_entries_user_created', ['user_id', 'created_at'], unique=False,
                              postgresql_include=covered)
        batch_op.create_index('ix_ledger_entries_created_at', ['created_at'], unique=False,
                              postgresql_include=['user_id', *covered])
    pg = op.get_bind().dialect.name == 'postgresql'
    if pg:
        op.execute(f"""CREATE FUNCTION ledger_totals_sync() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        {_subtract('OLD', pg)}
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        {_add('NEW', pg)}
    END IF;
    RETURN NULL;
END $$""")
        op.execute('CREATE TRIGGER ledger_totals_sync AFTER INSERT OR UPDATE OR DELETE ON ledger_entries'
                   ' FOR EACH ROW EXECUTE FUNCTION ledger_totals_sync()')
    else:
        op.execute(f'CREATE TRIGGER ledger_totals_insert AFTER INSERT ON ledger_entries BEGIN\n'
                   f'{_add("NEW", pg)}\nEND')
        op.execute(f'CREATE TRIGGER ledger_totals_delete AFTER DELETE ON ledger_entries BEGIN\n'
                   f'{_subtract("OLD", pg)}\nEND')
        op.execute(f'CREATE TRIGGER ledger_totals_update AFTER UPDATE ON ledger_entries BEGIN\n'
                   f'{_subtract("OLD", pg)}\n{_add("NEW", pg)}\nEND')
    for statement in _fill(pg):
        op.execute(statement)


def downgrade():
    if op.get_bind().dialect.name == 'postgresql':
        op.execute('DROP TRIGGER ledger_totals_sync ON ledger_entries')
        op.execute('DROP FUNCTION ledger_totals_sync()')
    else:
        for name in ('insert', 'delete', 'update'):
            op.execute(f'DROP TRIGGER ledger_totals_{name}')
    with op.batch_alter_table('ledger_entries', schema=None) as batch_op:
        batch_op.drop_index('ix_ledger_entries_created_at')
        batch_op.drop_index('ix_ledger_entries_user_created')
    op.drop_table('leaderboard_settings')
    op.drop_table('ledger_year_totals')
    op.drop_table('ledger_month_totals')
