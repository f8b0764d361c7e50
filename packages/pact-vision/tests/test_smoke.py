import pact_vision


def test_imports_with_version() -> None:
    assert pact_vision.__version__ == "0.1.0"
