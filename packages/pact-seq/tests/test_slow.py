"""Long acceptance runs; deselected unless ``-m slow`` is given (a few minutes of CPU each)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pact_seq import train


@pytest.mark.slow
def test_repeat_rho_2_solves_parity_within_40k_steps(tmp_path: Path) -> None:
    # Issue 3's acceptance run: Fojo et al. report 22k steps for Repeat-RNN with rho = 2.
    args = ["--task", "parity", "--model", "repeat", "--repeats", "2", "--steps", "40000"]
    assert train.main([*args, "--threads", "1", "--quiet", "--out", str(tmp_path)]) == 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["steps_to_solve"] is not None
    assert summary["steps_to_solve"] < 40_000
