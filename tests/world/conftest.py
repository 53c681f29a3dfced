"""Shared fixtures of the embedded-world tests (the packaged world and its 40-year summary)."""

from __future__ import annotations

import pytest

from bgctestbed.world import load_world


@pytest.fixture(scope="session")
def world():
    return load_world()


@pytest.fixture(scope="session")
def summary(world):
    from bgctestbed.world.summary import summarize

    return summarize(world)
