"""Sessions for the pact monorepo: ``nox -l`` lists them, ``nox`` runs the default ones."""

from __future__ import annotations

import os
from pathlib import Path

import nox

ROOT = Path(__file__).parent
CONSTRAINTS = ("-c", str(ROOT / "constraints.txt"))

# Each package with the local packages it needs, in install order.
PACKAGES: dict[str, tuple[str, ...]] = {
    "pact-core": ("pact-core",),
    "pact-vision": ("pact-core", "pact-vision"),
    "pact-seq": ("pact-core", "pact-seq"),
    "pact-bench": ("pact-core", "pact-vision", "pact-seq", "pact-bench"),
}

# The extras each package's tests install: pact-core's own tests exercise the progress
# bar of its run plumbing, which needs the optional ``runs`` extra (tqdm); the other
# packages depend on ``pact-core[runs]``.
TEST_EXTRAS: dict[str, tuple[str, ...]] = {
    "pact-core": ("test", "runs"),
    "pact-vision": ("test",),
    "pact-seq": ("test",),
    "pact-bench": ("test",),
}

# Linters are pinned so that a new release cannot fail a run that passed before.
RUFF = "ruff==0.17.6"
MYPY = "mypy==2.4.1"
# Type stubs of tqdm (pact_core.runs.progress) and of pandas (pact-bench's tests read
# results back with it), pinned like mypy itself.
MYPY_STUBS = ("types-tqdm==4.70.0.20261106", "pandas-stubs==3.1.0.261029")
# The documentation tools, pinned for the same reason. griffe reads the API from the
# source, so the docs session installs none of the packages (and no torch).
DOCS_TOOLS = (
    "mkdocs==1.6.1",
    "mkdocs-material==9.8.2",
    "mkdocstrings==1.0.8",
    "mkdocstrings-python==2.0.11",
    "mkdocs-autorefs==1.4.5",
    "griffelib==2.4.1",
    "pymdown-extensions==13.1.2",
    RUFF,  # mkdocstrings formats the signatures with it
)

nox.options.sessions = ["tests", "lint", "typecheck", "docs"]
nox.options.reuse_venv = "yes"
nox.options.error_on_missing_interpreters = True


def _install(session: nox.Session, package: str, *extras: str) -> None:
    """Install ``package`` and its local dependencies (with ``extras`` on the package itself)."""
    *deps, last = PACKAGES[package]
    suffix = f"[{','.join(extras)}]" if extras else ""
    targets = [f"./packages/{dep}" for dep in deps] + [f"./packages/{last}{suffix}"]
    session.install(*CONSTRAINTS, *targets)


def _pytest_env() -> dict[str, str]:
    profile = os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev")
    return {"HYPOTHESIS_PROFILE": profile}


@nox.session
@nox.parametrize("package", list(PACKAGES))
def tests(session: nox.Session, package: str) -> None:
    """Run one package's tests in its own venv, with only what it declares."""
    _install(session, package, *TEST_EXTRAS[package])
    session.run("pytest", f"packages/{package}/tests", *session.posargs, env=_pytest_env())


@nox.session(default=False)
@nox.parametrize("package", list(PACKAGES))
def slow(session: nox.Session, package: str) -> None:
    """Run one package's slow tests (long runs, Inductor compiles), deselected from ``tests``."""
    _install(session, package, *TEST_EXTRAS[package])
    session.run(
        "pytest", f"packages/{package}/tests", "-m", "slow", *session.posargs, env=_pytest_env()
    )


@nox.session
def lint(session: nox.Session) -> None:
    """Check style and formatting with ruff."""
    session.install(RUFF)
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def typecheck(session: nox.Session) -> None:
    """Type-check every package and its tests with mypy --strict."""
    _install(session, "pact-bench", "test")
    session.install(*CONSTRAINTS, "./packages/pact-vision[test]", "./packages/pact-seq[test]")
    session.install(MYPY, *MYPY_STUBS, "nox")
    session.run("mypy", "noxfile.py")
    for package in PACKAGES:
        # Each package's tests are their own top-level modules (conftest, strategies, ...),
        # so each package is checked in its own mypy run.
        session.run(
            "mypy",
            f"packages/{package}/src",
            f"packages/{package}/tests",
            env={"MYPYPATH": f"packages/{package}/src:packages/{package}/tests"},
        )


@nox.session
def docs(session: nox.Session) -> None:
    """Build the documentation site into site/ with MkDocs, strict: any warning fails it."""
    session.install(*DOCS_TOOLS)
    # The site is built offline: the API comes from the source, and the theme loads no
    # web fonts. NO_MKDOCS_2_WARNING silences the theme's banner about MkDocs 2.
    session.run("mkdocs", "build", "--strict", *session.posargs, env={"NO_MKDOCS_2_WARNING": "1"})


@nox.session(default=False)
def bench(session: nox.Session) -> None:
    """Run the benchmarks (speed and memory); prints the machine beside the numbers."""
    _install(session, "pact-bench")
    session.run("python", "-m", "pact_bench.overhead", "--json", "bench/overhead.json")
    session.run("python", "-m", "pact_seq.benchmark", *session.posargs)
    session.run("python", "-m", "pact_seq.benchmark", "--execution", "early-exit", *session.posargs)
    session.run("python", "-m", "pact_bench.speedup", "--arch", "resnet32", "--batch", "1,64")


@nox.session(default=False)
def gpu(session: nox.Session) -> None:
    """The GPU check: CUDA tests and benchmarks into gpu-check/ (smoke sizes without CUDA)."""
    _install(session, "pact-bench", "test")
    session.run("python", "-m", "pact_bench.gpu_check", "--out", "gpu-check", *session.posargs)
