from __future__ import annotations

import pytest
import torch

import pact_bench


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
