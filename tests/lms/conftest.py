import pytest


@pytest.fixture(autouse=True)
def _isolated(db_session):  # type: ignore[no-untyped-def]
    """Every lms test runs inside a rolled-back transaction."""
    return db_session


@pytest.fixture(autouse=True)
def _fresh_search_index(app):  # type: ignore[no-untyped-def]
    """The database rolls back after each test; the embedded search index is emptied to match."""
    yield
    app.extensions.pop("lms.search.ready", None)
    engine = app.extensions.pop("lms.search", None)
    if engine is not None:
        engine.drop()
