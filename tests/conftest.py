import pytest


@pytest.fixture(scope="session")
def monkeypatch_session():
    """A monkeypatch for session-scoped fixtures (pytest's own is function-scoped)."""
    with pytest.MonkeyPatch.context() as patch:
        yield patch
