"""Shared test configuration: Hypothesis profiles and a clean environment."""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

# The chat tests' fake Messages API server and database fixtures.
pytest_plugins = ["tests._chat_fixtures"]

settings.register_profile(
    "ci", max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "dev", max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "thorough", max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(
    os.environ.get("CONVO_HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev")
)


@pytest.fixture(autouse=True)
def _clean_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test sees the developer's API key or convo settings."""
    for key in list(os.environ):
        if key.startswith(("ANTHROPIC_", "CONVO_")) and key != "CONVO_TEST_POSTGRES_URL":
            monkeypatch.delenv(key, raising=False)
