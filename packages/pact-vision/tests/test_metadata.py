"""The package's one version (``__version__``) and the dependencies its metadata declares."""

from __future__ import annotations

import re
from importlib import metadata

import pact_vision


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
    assert metadata.version("pact-vision") == pact_vision.__version__


def test_the_pact_packages_are_pinned_to_this_release_series() -> None:
    series = ".".join(pact_vision.__version__.split(".")[:2])
    requirements = _requirements("pact-vision")
    for sibling in ["pact-core"]:
        assert requirements[sibling].replace(" ", "").endswith(f"=={series}.*"), sibling
        assert metadata.version(sibling).startswith(f"{series}.")  # and it is installed
    assert "pact-core[runs]" in requirements["pact-core"].replace(" ", "")
