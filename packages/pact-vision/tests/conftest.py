"""Shared test setup: Hypothesis profiles, and ``slow`` tests deselected unless asked for."""

from __future__ import annotations

import os

import pytest
import torch
from hypothesis import HealthCheck, settings

# No deadline and no "too slow" health check: both time the machine, not the code.
settings.register_profile(
    "dev", max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "ci",
    derandomize=True,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))

torch.set_num_threads(1)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip ``@pytest.mark.slow`` tests unless a ``-m`` expression selects them."""
    if config.getoption("markexpr", default=""):
        return
    skip = pytest.mark.skip(reason="slow test: run with -m slow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)
