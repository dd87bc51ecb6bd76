"""The ledger summaries under concurrent ledger writes on PostgreSQL (a throwaway database): many
transactions crediting the same cadre in the same month at once — including the first row of a month that
has none yet — lose no update, and the summaries still equal the ledger."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import create_engine, text

from lms.app import create_app
from lms.core.db import db
from tests.conftest import make_settings
from tests.live import race, scratch_postgres

WRITERS = 8
ROWS_EACH = 15


def test_concurrent_credits_for_one_cadre_and_month_all_count(tmp_path: pytest.TempPathFactory) -> None:
    from flask_migrate import upgrade

    from lms.reports.summary import check_summary
    from tests.factories import make_org, make_user

    with scratch_postgres("lms_summary_race") as url:
        app = create_app(make_settings(tmp_path, LMS_DATABASE_URL=url))  # type: ignore[arg-type]
        engine = create_engine(url, pool_size=WRITERS)
        try:
            with app.app_context():
                upgrade()
                cadre = make_user(org=make_org(name="并发汇总单位"))
                user_id, org_id = cadre.id, cadre.org_id
                db.session.commit()
                db.session.remove()

            def write(n: int) -> int:
                # Each row its own transaction, all threads on the same (cadre, month) summary rows.
                for i in range(ROWS_EACH):
                    with engine.begin() as conn:
                        conn.execute(
                            text(
                                "INSERT INTO ledger_entries (user_id, org_id, year, hours, kind, source_kind,"
                                " use, title, reference, reason, created_at) VALUES (:u, :o, 2026, :h,"
                                " 'credit', 'online_course', 'required', '', :r, '', :t)"
                            ),
                            {
                                "u": user_id, "o": org_id, "h": Decimal("0.25") * (n + 1),
                                "r": f"race:{n}:{i}", "t": datetime(2026, 3, 1 + i, 4, tzinfo=UTC),
                            },
                        )  # fmt: skip
                return n

            assert race(WRITERS, write) == list(range(WRITERS))
            want_cents = sum(25 * (n + 1) for n in range(WRITERS)) * ROWS_EACH
            with engine.connect() as conn:
                month = conn.execute(
                    text("SELECT entries, total, required FROM ledger_month_totals WHERE user_id = :u"),
                    {"u": user_id},
                ).all()
                year = conn.execute(
                    text("SELECT entries, total FROM ledger_year_totals WHERE user_id = :u AND year = 2026"),
                    {"u": user_id},
                ).all()
            assert month == [(WRITERS * ROWS_EACH, want_cents, want_cents)]
            assert year == [(WRITERS * ROWS_EACH, want_cents)]
            with app.app_context():
                assert all(drift.ok for drift in check_summary())
                db.session.remove()
        finally:
            engine.dispose()
            with app.app_context():
                db.engine.dispose()
