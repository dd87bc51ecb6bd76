import pytest


@pytest.fixture(autouse=True)
def _isolated(db_session):  # type: ignore[no-untyped-def]
    """Every lms test runs inside a rolled-back transaction."""
    return db_session
