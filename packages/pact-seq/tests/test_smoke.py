import pact_seq


def test_imports_with_version() -> None:
    assert pact_seq.__version__ == "0.1.0"
