"""Hypothesis profiles: ``dev`` (fast, random) and ``ci`` (derandomised, no deadline).

Select one with ``HYPOTHESIS_PROFILE=ci`` (nox sets it when ``CI`` is set) or pytest's
``--hypothesis-profile``.
"""

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "dev",
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "ci",
    max_examples=80,
    derandomize=True,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))
