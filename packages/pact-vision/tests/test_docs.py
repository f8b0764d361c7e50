from __future__ import annotations

import doctest
import re
from pathlib import Path
from types import ModuleType

import pytest

import pact_vision
import pact_vision.models

README = Path(__file__).parents[1] / "README.md"


def test_readme_examples_run(capsys: pytest.CaptureFixture[str]) -> None:
    # The blocks run in order in one namespace, as a reader would paste them.
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.DOTALL)
    assert len(blocks) == 2
    assert len(blocks[0].strip().splitlines()) <= 10
    namespace: dict[str, object] = {}
    for block in blocks:
        exec(compile(block, str(README), "exec"), namespace)
    assert capsys.readouterr().out.strip()
    assert namespace["model"].execution == "sparse"  # type: ignore[attr-defined]


@pytest.mark.parametrize("module", [pact_vision, pact_vision.models])
def test_docstring_examples(module: ModuleType) -> None:
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0
