"""Real parallel requests against a live server on PostgreSQL (a throwaway database): sign-in
throttling and unique login names hold when requests race, not only when they take turns."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import pytest

from lms.app import create_app
from lms.core.db import db
from tests.conftest import make_settings
from tests.live import call_json, race, scratch_postgres, serve

PASSWORD = "Concurrency2026"


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, int]]]:
    from flask_migrate import upgrade

    from lms.accounts import services
    from lms.accounts.models import OrgKind, Role, RoleGrant

    with scratch_postgres("lms_race") as race_url:
        app = create_app(make_settings(tmp_path_factory.mktemp("race"), LMS_DATABASE_URL=race_url))
        with app.app_context():
            upgrade()
            org = services.create_org(actor=None, parent=None, name="并发测试单位", kind=OrgKind.UNIT)
            data = services.clean_user_data(login_name="racer", display_name="并发")
            services.create_user(
                actor=None, org=org, data=data, password=PASSWORD, must_change_password=False
            )
            admin, _ = services.create_user(
                actor=None,
                org=org,
                password=PASSWORD,
                must_change_password=False,
                data=services.clean_user_data(login_name="race-admin", display_name="管"),
            )
            db.session.add(RoleGrant(user_id=admin.id, role=Role.ORG_ADMIN, org_id=org.id))
            db.session.commit()
            ids = {"org": org.id}
        try:
            with serve(app) as base:
                yield base, ids
        finally:
            with app.app_context():
                db.engine.dispose()


def _post(url: str, body: dict, headers: dict | None = None) -> tuple[int, dict]:  # type: ignore[type-arg]
    return call_json("POST", url, headers or {}, body)


def _race(count: int, call) -> Counter:  # type: ignore[no-untyped-def]
    return Counter(race(count, lambda _: call()))


def test_parallel_wrong_passwords_get_no_more_tries_than_sequential_ones(live):
    base, _ = live
    wrong = {"username": "racer", "password": "wrong-1"}
    statuses = _race(20, lambda: _post(f"{base}/api/v1/auth/token", wrong)[0])
    # 5 failures lock the account: at most 4 attempts may be told "wrong password", the rest are locked out.
    assert statuses[401] <= 4 and statuses[401] + statuses[429] == 20, statuses
    assert _post(f"{base}/api/v1/auth/token", {"username": "racer", "password": PASSWORD})[0] == 429


def test_parallel_creates_of_one_login_name_make_exactly_one_account(live):
    base, ids = live
    _, token = _post(f"{base}/api/v1/auth/token", {"username": "race-admin", "password": PASSWORD})
    headers = {"Authorization": f"Bearer {token['token']}"}
    body = {"org_id": ids["org"], "login_name": "same-name", "name": "同名"}
    statuses = _race(12, lambda: _post(f"{base}/api/v1/users", body, headers)[0])
    assert statuses == Counter({201: 1, 409: 11}), statuses
