"""subcategories by org and course materials

Subcategories (under the four fixed top-level categories) now belong to the org whose admin added them and
can be retired; a lesson may carry reading material (text, or a PDF in the object store) instead of media.

Revision ID: c4material01
Revises: r7summary001
Create Date: 2026-11-22 01:38:02.681536

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'c4material01'
down_revision = 'r7summary001'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('course_materials',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('org_id', sa.Integer(), nullable=False),
    sa.Column('owner_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=8), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('filename', sa.String(length=200), nullable=False),
    sa.Column('object_key', sa.String(length=300), nullable=True),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.Column('text_html', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['org_id'], ['organizations.id'], name=op.f('fk_course_materials_org_id_organizations')),
    sa.ForeignKeyConstraint(['owner_id'], ['users.id'], name=op.f('fk_course_materials_owner_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_course_materials'))
    )
    with op.batch_alter_table('course_materials', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_course_materials_org_id'), ['org_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_course_materials_owner_id'), ['owner_id'], unique=False)

    if op.get_bind().dialect.name == "sqlite":
        # Batch mode would rebuild both tables, and on SQLite dropping the old table deletes its rows
        # first: lessons' progress would cascade away, and r7summary001's triggers name categories.
        # ADD COLUMN with an inline reference needs no rebuild. (A downgrade leaves these two columns.)
        inspector = sa.inspect(op.get_bind())
        for table, column, target in (
            ("categories", "org_id", "organizations"),
            ("lessons", "material_id", "course_materials"),
        ):
            if column in {c["name"] for c in inspector.get_columns(table)}:
                op.create_index(f"ix_{table}_{column}", table, [column], unique=False)
                continue
            op.execute(
                f"ALTER TABLE {table} ADD COLUMN {column} INTEGER "
                f"CONSTRAINT fk_{table}_{column}_{target} REFERENCES {target} (id)"
            )
            op.create_index(f"ix_{table}_{column}", table, [column], unique=False)
        op.add_column('categories', sa.Column('is_retired', sa.Boolean(), server_default=sa.false(), nullable=False))
        return

    with op.batch_alter_table('categories', schema=None) as batch_op:
        batch_op.add_column(sa.Column('org_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('is_retired', sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.create_index(batch_op.f('ix_categories_org_id'), ['org_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_categories_org_id_organizations'), 'organizations', ['org_id'], ['id'])

    with op.batch_alter_table('lessons', schema=None) as batch_op:
        batch_op.add_column(sa.Column('material_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_lessons_material_id'), ['material_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_lessons_material_id_course_materials'), 'course_materials', ['material_id'], ['id'])


def downgrade():
    if op.get_bind().dialect.name == "sqlite":
        # See upgrade: no table rebuilds on SQLite, and SQLite cannot drop a column that references
        # another table, so categories.org_id and lessons.material_id stay (unused, emptied).
        op.execute("UPDATE lessons SET material_id = NULL")
        op.execute("UPDATE categories SET org_id = NULL")
        op.drop_index("ix_lessons_material_id", table_name="lessons")
        op.drop_index("ix_categories_org_id", table_name="categories")
        op.drop_column("categories", "is_retired")
        op.drop_table("course_materials")
        return

    with op.batch_alter_table('lessons', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_lessons_material_id_course_materials'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_lessons_material_id'))
        batch_op.drop_column('material_id')

    with op.batch_alter_table('categories', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_categories_org_id_organizations'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_categories_org_id'))
        batch_op.drop_column('is_retired')
        batch_op.drop_column('org_id')

    with op.batch_alter_table('course_materials', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_course_materials_owner_id'))
        batch_op.drop_index(batch_op.f('ix_course_materials_org_id'))

    op.drop_table('course_materials')
