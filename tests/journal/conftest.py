"""Fixtures for the journal and OSC tests."""

from __future__ import annotations

import pytest
from journal_helpers import FakeClock

from bridge.journal import Journal


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def journal(tmp_path, clock):
    with Journal(tmp_path / "journal", result_ttl=3600.0, clock=clock) as opened:
        yield opened
