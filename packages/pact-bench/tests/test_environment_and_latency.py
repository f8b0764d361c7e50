from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

import pact_bench
from pact_bench.halting import main as halting_main
from pact_core import STREAM_HALTINGS


def test_environment_records_machine_and_versions() -> None:
    env = pact_bench.describe_environment("cpu")
    record = env.as_dict()
    assert record["torch"] == torch.__version__
    assert record["device"] == "cpu"
    assert int(record["threads"]) == torch.get_num_threads()
    assert int(record["cpu_count"]) >= 1
    assert env.cpu in env.summary()


def test_latency_counts_the_work() -> None:
    calls: list[int] = []
    latency = pact_bench.measure_latency(lambda: calls.append(1), warmup=2, min_run_time=0.01)
    assert latency.median_s > 0
    assert latency.iqr_s >= 0
    assert latency.runs >= 1
    assert len(calls) > 2  # warm-up plus timed calls


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"threads": 0}, "threads"), ({"warmup": -1}, "warmup"), ({"min_run_time": 0}, "min_run")],
)
def test_latency_rejects_bad_settings(kwargs: dict[str, float], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        pact_bench.measure_latency(lambda: None, **kwargs)  # type: ignore[arg-type]


def test_halting_benchmark_writes_its_schema(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "halting.json"
    code = halting_main(
        [
            "--batch",
            "8",
            "--hidden",
            "16",
            "--inputs",
            "5",
            "--min-run-time",
            "0.01",
            "--json",
            str(out),
        ]
    )
    assert code == 0
    payload = json.loads(out.read_text())
    assert set(payload) == {"environment", "config", "results"}
    assert {r["halting"] for r in payload["results"]} == set(STREAM_HALTINGS)
    for result in payload["results"]:
        assert result["cell_ms"] > 0 and result["halting_ms"] > 0
        assert result["overhead"] == pytest.approx(result["halting_ms"] / result["cell_ms"])
    printed = capsys.readouterr().out
    assert "| relaxed |" in printed and payload["environment"]["cpu"] in printed


def test_halting_benchmark_bad_arguments_give_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert halting_main(["--batch", "0"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "pact_bench.halting: error: argument --batch: must be an integer >= 1, got '0'"
