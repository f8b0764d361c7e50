"""The package's one version (``__version__``) and the dependencies its metadata declares."""

from __future__ import annotations

import re
from importlib import metadata

import pact_core


def _requirements(distribution: str) -> dict[str, str]:
    """``{name: requirement}`` of ``distribution``'s unconditional requirements."""
    found = {}
    for requirement in metadata.requires(distribution) or []:
        if "extra ==" not in requirement:
            name = re.match(r"[A-Za-z0-9_.-]+", requirement)
            assert name is not None
            found[name.group(0).lower()] = requirement
    return found


def test_the_installed_version_is_the_package_version() -> None:
    assert metadata.version("pact-core") == pact_core.__version__


def test_the_halting_math_needs_torch_alone() -> None:
    assert list(_requirements("pact-core")) == ["torch"]
    extras = metadata.metadata("pact-core").get_all("Provides-Extra") or []
    assert "runs" in extras  # tqdm, for the run plumbing's progress bar
