import pact_bench


def test_imports_with_version() -> None:
    assert pact_bench.__version__ == "0.1.0"
