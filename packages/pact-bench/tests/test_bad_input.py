"""Bad input to every command line: refused in one line, before any work, changing nothing.

Each of the twelve ``python -m pact_*`` entry points runs in a subprocess of its own: a
small driver (:data:`DRIVER`, written to a temporary file) imports the command once and
calls its ``main(argv)`` for each of its cases, with the process's stderr (file
descriptor 2, so C-level writes are caught too) sent to a file per case. Starting one
Python and torch per case would take minutes; one per command takes seconds, and up to
:data:`PARALLEL` commands run at once.

The cases are of two sorts:

* **numeric flags**, generated from each command's parser: every flag whose ``type``
  carries an ``allowed`` :class:`~pact_core.Interval` (:func:`pact_core.runs.number`,
  :func:`~pact_core.runs.integer` and their list forms) is given 0, -1, nan, inf, -inf,
  1e30 and, for integer flags, an integer beyond any float; the values the interval
  forbids must be refused naming the flag and the value. A sentinel unknown flag follows
  each, so that a value the parser wrongly accepted fails on the sentinel (and says so)
  instead of starting a run. :func:`test_every_numeric_flag_goes_through_the_layer`
  checks that no numeric flag escapes this (a plain ``int`` or ``float`` type);
* **files**: a missing, truncated, random-bytes or wrong-kind checkpoint (a vision one
  for pact-seq and the other way round, tiny real ones from ``conftest.py``), a
  checkpoint trained on other images than the data, a file given as ``--out``, an
  ``--out`` or ``--json`` under a regular file (the tests run as root, where ``chmod``
  stops no write), an empty ``--out``, an existing run directory without ``--resume``,
  and a resume with a changed setting.

For every case: a non-zero exit status (2 for bad input, 1 for a run that cannot go on),
exactly one line on stderr without "Traceback", and no file that existed before changed
or removed (size, modification time and SHA-256 of every file under the command's
working directory, before and after the case; a file is hashed again whenever its
status change time moves, which every write does) and no new file written. Every case stops
before training or measuring starts.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import TinyRuns

from pact_core import Interval

#: The command lines, as ``python -m`` runs them.
CLIS = (
    "pact_seq.train",
    "pact_seq.evaluate",
    "pact_seq.benchmark",
    "pact_vision.train",
    "pact_vision.evaluate",
    "pact_vision.ponder_maps",
    "pact_bench.compare",
    "pact_bench.flops",
    "pact_bench.overhead",
    "pact_bench.gpu_check",
    "pact_bench.halting_distribution",
    "pact_bench.halting_gradients",
    "pact_bench.seq_report",
    "pact_bench.speedup",
    "pact_bench.variance_report",
    "pact_bench.vision_report",
)
#: Commands run at once (each is one Python process with torch).
PARALLEL = 4
#: Seconds a case may run before it counts as one that started work.
CASE_SECONDS = 60
#: The unknown flag after every numeric case (see the module docstring).
SENTINEL = "--bad-input-sentinel"
#: Values every numeric flag is tried with; those its interval forbids must be refused.
NUMBERS = ("0", "-1", "nan", "inf", "-inf", "1e30")
#: An integer beyond any float, tried on integer flags.
HUGE = "1" + "0" * 400

USAGE, FAILED = 2, 1


@dataclass(frozen=True)
class Case:
    """One bad invocation of a command line.

    Attributes:
        cli: The module, e.g. ``"pact_seq.train"``.
        name: What is wrong, for the test id.
        argv: The arguments, with paths relative to the command's working directory.
        status: The exit status expected: 2 (bad input) or 1 (a run that cannot go on).
        message: Text the one line of stderr must hold.
    """

    cli: str
    name: str
    argv: tuple[str, ...]
    status: int
    message: str


def _parser(cli: str) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = importlib.import_module(cli)._parser()
    return parser


def _numeric_actions(cli: str) -> Iterator[tuple[str, argparse.Action, Interval]]:
    for action in _parser(cli)._actions:
        allowed = getattr(action.type, "allowed", None)
        if isinstance(allowed, Interval):
            flag = next(s for s in action.option_strings if s.startswith("--"))
            yield flag, action, allowed


def forbids(allowed: Interval, text: str) -> bool:
    """Whether ``allowed`` forbids the command-line value ``text`` (worked out here)."""
    try:
        value = float(text)
    except ValueError:
        return True
    if allowed.integer and not re.fullmatch(r"-?\d+", text):
        return True
    return not allowed.contains(value)


def numeric_cases(cli: str) -> list[Case]:
    """The forbidden values of every checked numeric flag of ``cli``."""
    cases = []
    for flag, action, allowed in _numeric_actions(cli):
        values = (*NUMBERS, HUGE) if allowed.integer else NUMBERS
        for text in values:
            if forbids(allowed, text):
                names = "/".join(action.option_strings)
                shown = "huge" if text == HUGE else text
                cases.append(
                    Case(
                        cli,
                        f"{flag}={shown}",
                        (f"{flag}={text}", SENTINEL),
                        USAGE,
                        f"argument {names}: ",
                    )
                )
    return cases


# Paths inside each command's working directory (see ``_work_dir``).
SEQ = "seq-run/checkpoint.pt"
VISION = "vision-run/checkpoint.pt"
MISSING, TRUNCATED, RANDOM, NOTES = (
    "bad/missing.pt",
    "bad/truncated.pt",
    "bad/random.pt",
    "notes.txt",
)
BROKEN = {"missing": MISSING, "truncated": TRUNCATED, "random-bytes": RANDOM, "text": NOTES}
UNREADABLE = {"missing": "not found", "truncated": "unreadable", "random-bytes": "unreadable"}
UNREADABLE["text"] = "unreadable"
FASHION = ("--data", "fashion-mnist", "--data-dir", "fashion")
CIFAR = ("--data", "cifar10", "--data-dir", "cifar")
SHAPES = "was trained on 1x28x28 images; these data (cifar10) are 3x32x32"
SEQ_TINY = ("--model", "pact", "--tau", "0.01", "--bits", "4", "--hidden-size", "8",
            "--batch-size", "8", "--max-iterations", "3", "--steps", "2", "--log-every", "1",
            "--eval-samples", "8", "--threads", "1", "--quiet")  # fmt: skip
VISION_TINY = ("--arch", "resnet8", *FASHION, "--train-limit", "16", "--eval-limit", "8",
               "--steps", "1", "--batch-size", "8", "--device", "cpu", "--log-every", "1",
               "--no-progress")  # fmt: skip
OUT_CASES = (
    ("out is a file", ("--out", "notes.txt"), "exists and is not a directory"),
    ("out under a file", ("--out", "notes.txt/run"), "cannot be created"),
    ("out is empty", ("--out", ""), "--out must name a directory, got ''"),
)


def _broken(cli: str, before: tuple[str, ...], flag: str, after: tuple[str, ...]) -> list[Case]:
    """A missing, truncated, random-bytes and plain-text file given as ``flag``."""
    return [
        Case(cli, f"{flag} {kind}", (*before, flag, path, *after), FAILED, UNREADABLE[kind])
        for kind, path in BROKEN.items()
    ]


def file_cases() -> list[Case]:
    """The cases about files and directories, command by command."""
    cases: list[Case] = []

    def add(cli: str, name: str, argv: tuple[str, ...], status: int, message: str) -> None:
        cases.append(Case(cli, name, argv, status, message))

    cli = "pact_seq.train"
    for name, out, message in OUT_CASES:
        add(cli, name, (*SEQ_TINY, *out), USAGE, message)
    add(cli, "existing run without --resume", (*SEQ_TINY, "--out", "seq-run"), USAGE,
        "--out seq-run already holds a run (checkpoint.pt, log.jsonl, summary.json)")  # fmt: skip
    add(cli, "resume and overwrite", (*SEQ_TINY, "--out", "seq-run", "--resume", "--overwrite"),
        USAGE, "pass one")  # fmt: skip
    add(cli, "resume a vision checkpoint", (*SEQ_TINY, "--out", "vision-in-seq", "--resume"),
        FAILED, "is a pact-vision checkpoint, not a pact-seq one")  # fmt: skip
    add(cli, "resume a truncated checkpoint", (*SEQ_TINY, "--out", "truncated-run", "--resume"),
        FAILED, "unreadable")  # fmt: skip
    add(cli, "resume random bytes", (*SEQ_TINY, "--out", "random-run", "--resume"), FAILED,
        "unreadable")  # fmt: skip
    add(cli, "resume with a changed tau", (*SEQ_TINY, "--tau", "0.5", "--out", "seq-run",
        "--resume"), USAGE, "halting.tau: 0.01 -> 0.5")  # fmt: skip

    cli = "pact_seq.evaluate"
    cases += _broken(cli, (), "--checkpoint", ())
    add(cli, "a vision checkpoint", ("--checkpoint", VISION), FAILED,
        "is a pact-vision checkpoint, not a pact-seq one")  # fmt: skip
    add(cli, "a directory as checkpoint", ("--checkpoint", "seq-run"), FAILED, "not found")

    cli = "pact_seq.benchmark"
    add(cli, "unknown model", ("--models", "sideways"), USAGE, "argument --models: invalid")
    add(cli, "unknown device", ("--device", "tpu"), USAGE, "argument --device")

    cli = "pact_vision.train"
    for name, out, message in OUT_CASES:
        add(cli, name, (*VISION_TINY, *out), USAGE, message)
    add(cli, "existing run without --resume", (*VISION_TINY, "--out", "vision-run"), USAGE,
        "--out vision-run already holds a run (checkpoint.pt, log.jsonl)")  # fmt: skip
    add(cli, "an unrelated log.jsonl in out", (*VISION_TINY, "--out", "notes-run"), USAGE,
        "--out notes-run already holds a run (log.jsonl)")  # fmt: skip
    add(cli, "resume and overwrite", (*VISION_TINY, "--out", "vision-run", "--resume",
        "--overwrite"), USAGE, "pass one")  # fmt: skip
    add(cli, "resume a seq checkpoint", (*VISION_TINY, "--out", "seq-in-vision", "--resume"),
        FAILED, "is a pact-seq checkpoint, not a pact-vision one")  # fmt: skip
    add(cli, "resume a truncated checkpoint", (*VISION_TINY, "--out", "truncated-run",
        "--resume"), FAILED, "unreadable")  # fmt: skip
    add(cli, "resume random bytes", (*VISION_TINY, "--out", "random-run", "--resume"), FAILED,
        "unreadable")  # fmt: skip
    add(cli, "resume with a changed weight decay", (*VISION_TINY, "--weight-decay", "0.001",
        "--out", "vision-run", "--resume"), USAGE, "weight_decay: 0.0002 -> 0.001")  # fmt: skip
    pact = (*VISION_TINY, "--method", "pact", "--out", "new-run")
    cases += _broken(cli, pact, "--init", ())
    add(cli, "init from a seq checkpoint", (*pact, "--init", SEQ), FAILED,
        "is a pact-seq checkpoint, not a pact-vision one")  # fmt: skip
    add(cli, "init from a Fashion-MNIST checkpoint on CIFAR-10",
        (*pact, "--init", VISION, *CIFAR), FAILED, SHAPES)  # fmt: skip
    add(cli, "missing data", (*VISION_TINY, "--data-dir", "bad/no-data", "--out", "new-run"),
        FAILED, "bad/no-data")  # fmt: skip

    cli = "pact_vision.evaluate"
    cases += _broken(cli, (), "--checkpoint", FASHION)
    add(cli, "a seq checkpoint", ("--checkpoint", SEQ), FAILED,
        "is a pact-seq checkpoint, not a pact-vision one")  # fmt: skip
    add(cli, "Fashion-MNIST checkpoint on CIFAR-10", ("--checkpoint", VISION, *CIFAR), FAILED,
        SHAPES)  # fmt: skip
    add(cli, "json under a file", ("--checkpoint", VISION, "--json", "notes.txt/x.json"), USAGE,
        "--json notes.txt/x.json cannot be written")  # fmt: skip
    add(cli, "json is a directory", ("--checkpoint", VISION, "--json", "fashion"), USAGE,
        "--json fashion is a directory")  # fmt: skip
    add(cli, "missing data", ("--checkpoint", VISION, "--data-dir", "bad/no-data"), FAILED,
        "bad/no-data")  # fmt: skip
    add(cli, "unknown halting", ("--checkpoint", VISION, "--haltings", "sideways"), USAGE,
        "--haltings")  # fmt: skip

    cli = "pact_vision.ponder_maps"
    cases += _broken(cli, (), "--checkpoint", ("--out", "maps"))
    add(cli, "a seq checkpoint", ("--checkpoint", SEQ, "--out", "maps"), FAILED,
        "is a pact-seq checkpoint, not a pact-vision one")  # fmt: skip
    add(cli, "Fashion-MNIST checkpoint on CIFAR-10",
        ("--checkpoint", VISION, "--out", "maps", *CIFAR), FAILED, SHAPES)  # fmt: skip
    for name, out, message in OUT_CASES:
        add(cli, name, ("--checkpoint", VISION, *out), USAGE, message)
    add(cli, "no out", ("--checkpoint", VISION), USAGE, "--checkpoint needs --out")
    add(cli, "data file of random bytes", ("--from-data", RANDOM), FAILED, RANDOM)
    add(cli, "missing data file", ("--from-data", "bad/missing.json"), FAILED, "missing.json")

    cli = "pact_bench.compare"
    for name, out, message in OUT_CASES:
        add(cli, name, ("--quick", *out), USAGE, message)
    add(cli, "a run that is none", ("--runs", "bad/no-run", "--out", "res"), FAILED,
        "bad/no-run is neither a pact_seq.train run")  # fmt: skip
    add(cli, "a vision run without data", ("--runs", "vision-run", "--out", "res"), USAGE,
        "the vision run vision-run needs --data")  # fmt: skip
    add(cli, "a run holding a seq checkpoint as vision", ("--runs", "seq-in-vision", *FASHION,
        "--out", "res"), FAILED, "is a pact-seq checkpoint, not a pact-vision one")  # fmt: skip
    add(cli, "a Fashion-MNIST run on CIFAR-10", ("--runs", "vision-run", *CIFAR, "--out", "res"),
        FAILED, SHAPES)  # fmt: skip
    cases += _broken(cli, ("--quick",), "--vision-checkpoint", (*FASHION, "--out", "res"))
    add(cli, "a seq checkpoint", ("--quick", "--vision-checkpoint", SEQ, *FASHION, "--out",
        "res"), FAILED, "is a pact-seq checkpoint, not a pact-vision one")  # fmt: skip
    add(cli, "Fashion-MNIST checkpoint on CIFAR-10", ("--quick", "--vision-checkpoint", VISION,
        *CIFAR, "--out", "res"), FAILED, SHAPES)  # fmt: skip
    add(cli, "a checkpoint without data", ("--quick", "--vision-checkpoint", VISION, "--out",
        "res"), USAGE, "--vision-checkpoint needs --data")  # fmt: skip
    add(cli, "unknown arch", ("--quick", "--arch", "resnet33", "--out", "res"), USAGE,
        "--arch: ")  # fmt: skip

    cli = "pact_bench.flops"
    cases += _broken(cli, (), "--checkpoint", FASHION)
    add(cli, "a seq checkpoint", ("--checkpoint", SEQ, *FASHION), FAILED,
        "is a pact-seq checkpoint, not a pact-vision one")  # fmt: skip
    add(cli, "Fashion-MNIST checkpoint on CIFAR-10", ("--checkpoint", VISION, *CIFAR), FAILED,
        SHAPES)  # fmt: skip
    add(cli, "a checkpoint without data", ("--checkpoint", VISION), USAGE, "needs --data")
    add(cli, "missing data", ("--checkpoint", VISION, "--data", "fashion-mnist", "--data-dir",
        "bad/no-data"), FAILED, "bad/no-data")  # fmt: skip
    add(cli, "trained halting without a checkpoint", ("--halting", "act"), USAGE,
        "give --checkpoint")  # fmt: skip
    add(cli, "unknown arch", ("--arch", "resnet33"), USAGE, "--arch: ")

    cli = "pact_bench.gpu_check"
    for name, out, message in OUT_CASES:
        add(cli, name, out, USAGE, message)
    add(cli, "unknown device", ("--device", "tpu"), USAGE, "argument --device")

    cli = "pact_bench.overhead"
    add(cli, "compile with a syncing execution", ("--compile", "default", "--executions",
        "compact"), USAGE, "--compile needs sync-free --executions")  # fmt: skip
    add(cli, "unknown execution", ("--executions", "sideways"), USAGE, "argument --executions")
    add(cli, "json under a file", ("--json", "notes.txt/x.json"), USAGE,
        "--json notes.txt/x.json cannot be written")  # fmt: skip
    add(cli, "json is a directory", ("--json", "fashion"), USAGE, "--json fashion is a directory")
    add(cli, "json is empty", ("--json", ""), USAGE, "--json must name a file, got ''")
    add(cli, "unknown device", ("--device", "tpu"), USAGE, "argument --device")

    cli = "pact_bench.halting_distribution"
    data = ("--data", "fashion-mnist", "--data-dir", "fashion")
    add(cli, "no label", (*data, "--checkpoint", "vision-run"), USAGE,
        "expected LABEL=PATH, got 'vision-run'")  # fmt: skip
    add(cli, "a missing checkpoint", (*data, "--checkpoint", "x=bad/none"), FAILED,
        "checkpoint bad/none not found")  # fmt: skip
    add(cli, "a seq run", (*data, "--checkpoint", "x=seq-run"), FAILED,
        "is a pact-seq checkpoint, not a pact-vision one")  # fmt: skip
    add(cli, "a dense run", (*data, "--checkpoint", "x=vision-run"), USAGE,
        "the model has no halting heads")  # fmt: skip
    add(cli, "plot format", (*data, "--checkpoint", "x=vision-run", "--plot", "p.gif"), USAGE,
        "cannot write a figure as 'gif'")  # fmt: skip

    cli = "pact_bench.halting_gradients"
    add(cli, "a missing checkpoint", ("--checkpoint", "bad/none"), FAILED, "bad/none")
    add(cli, "a vision run", ("--checkpoint", "vision-run"), FAILED,
        "is a pact-vision checkpoint, not a pact-seq one")  # fmt: skip

    cli = "pact_bench.variance_report"
    add(cli, "a missing run", ("--runs", "bad/no-run"), FAILED,
        "--runs: not a directory: bad/no-run")  # fmt: skip
    add(cli, "a dense run", ("--runs", "vision-run"), FAILED, "method 'fixed' is not PSACT")
    add(cli, "a seq run", ("--runs", "seq-run"), FAILED, "does not start with a pact_vision.train")
    add(cli, "plot format", ("--runs", "vision-run", "--plot", "p.gif"), USAGE,
        "cannot write a figure as 'gif'")  # fmt: skip

    cli = "pact_bench.seq_report"
    add(cli, "a missing run", ("--runs", "bad/no-run"), FAILED, "no such directory: bad/no-run")
    add(cli, "only files", ("--runs", NOTES), FAILED, "none of --runs is a directory")
    add(cli, "a vision run", ("--runs", "vision-run"), FAILED,
        "is not a finished pact_seq.train run")  # fmt: skip
    add(cli, "plot under a file", ("--runs", "seq-run", "--plot", "notes.txt/p.png"), USAGE,
        "--plot notes.txt/p.png cannot be written")  # fmt: skip
    add(cli, "plot format", ("--runs", "seq-run", "--plot", "p.gif"), USAGE,
        "cannot write a figure as 'gif'")  # fmt: skip
    add(cli, "plot is empty", ("--runs", "seq-run", "--plot", ""), USAGE,
        "--plot must name a file, got ''")  # fmt: skip

    cli = "pact_bench.speedup"
    add(cli, "json under a file", ("--json", "notes.txt/x.json"), USAGE,
        "--json notes.txt/x.json cannot be written")  # fmt: skip
    add(cli, "json is a directory", ("--json", "fashion"), USAGE, "--json fashion is a directory")
    cases += _broken(cli, (), "--checkpoint", FASHION)
    add(cli, "a seq checkpoint", ("--checkpoint", SEQ, *FASHION), FAILED,
        "is a pact-seq checkpoint, not a pact-vision one")  # fmt: skip
    add(cli, "Fashion-MNIST checkpoint on CIFAR-10", ("--checkpoint", VISION, *CIFAR), FAILED,
        SHAPES)  # fmt: skip
    add(cli, "a dense checkpoint", ("--checkpoint", VISION, *FASHION), FAILED,
        "has no halting heads")  # fmt: skip
    add(cli, "a checkpoint without data", ("--checkpoint", VISION), USAGE, "needs --data")
    cases += _broken(cli, (), "--seq-checkpoint", ())
    add(cli, "a vision checkpoint as seq", ("--seq-checkpoint", VISION), FAILED,
        "is a pact-vision checkpoint, not a pact-seq one")  # fmt: skip
    add(cli, "unknown map kind", ("--masks", "stripes"), USAGE, "unknown kind 'stripes'")
    add(cli, "a bad batch in a list", ("--batch", "1,0"), USAGE, "argument --batch: item 2 ('0')")
    add(cli, "a nan in a list", ("--active", "0.5,nan"), USAGE, "argument --active: item 2")
    add(cli, "unknown arch", ("--arch", "resnet33"), USAGE, "--arch: ")

    cli = "pact_bench.vision_report"
    add(cli, "a missing report", ("--evals", "bad/missing.json"), FAILED, "bad/missing.json")
    add(cli, "a report of random bytes", ("--evals", RANDOM), FAILED, RANDOM)
    add(cli, "a text file", ("--evals", NOTES), FAILED, NOTES)
    add(cli, "a seq summary", ("--evals", "seq-run/summary.json"), FAILED,
        "is not a pact_vision.evaluate --json report")  # fmt: skip
    add(cli, "plot under a file", ("--evals", NOTES, "--plot", "notes.txt/p.png"), USAGE,
        "--plot notes.txt/p.png cannot be written")  # fmt: skip
    add(cli, "plot format", ("--evals", NOTES, "--plot", "p.gif"), USAGE,
        "cannot write a figure as 'gif'")  # fmt: skip
    return cases


CASES = [case for cli in CLIS for case in numeric_cases(cli)] + file_cases()


def _work_dir(tiny: TinyRuns, directory: Path) -> Path:
    """A command's own copy of the tiny runs, with broken files beside them."""
    directory.mkdir(parents=True)
    shutil.copytree(tiny.fashion, directory / "fashion")
    shutil.copytree(tiny.cifar, directory / "cifar")
    shutil.copytree(tiny.seq_run, directory / "seq-run")
    shutil.copytree(tiny.vision_run, directory / "vision-run")
    seq = (directory / SEQ).read_bytes()
    pairs = {"vision-in-seq": directory / VISION, "seq-in-vision": directory / SEQ}
    for name, source in pairs.items():
        (directory / name).mkdir()
        shutil.copy2(source, directory / name / "checkpoint.pt")
    (directory / "bad").mkdir()
    (directory / TRUNCATED).write_bytes(seq[: len(seq) // 2])
    (directory / RANDOM).write_bytes(os.urandom(4096))
    (directory / NOTES).write_text("notes, not a checkpoint\n")
    for name, path in (("truncated-run", TRUNCATED), ("random-run", RANDOM)):
        (directory / name).mkdir()
        shutil.copy2(directory / path, directory / name / "checkpoint.pt")
    (directory / "notes-run").mkdir()
    (directory / "notes-run" / "log.jsonl").write_text("my notes, not a training log\n")
    return directory


#: Run by ``python DRIVER MODULE CASES RESULTS`` in the command's working directory.
DRIVER = r"""
import hashlib, importlib, json, os, signal, sys, tempfile, traceback
from pathlib import Path

module_name, cases_file, results_file, limit = sys.argv[1:4] + [int(sys.argv[4])]
root = Path.cwd()
main = importlib.import_module(module_name).main


hashed = {}  # (path, inode, size, mtime, ctime) -> SHA-256: a write changes the ctime


def snapshot():
    files = {}
    for path in sorted(root.rglob("*")):
        if path.is_file():
            stat = path.stat()
            key = (str(path), stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns)
            if key not in hashed:
                hashed[key] = hashlib.sha256(path.read_bytes()).hexdigest()
            files[str(path.relative_to(root))] = [stat.st_size, stat.st_mtime_ns, hashed[key]]
    return files


class StillRunning(BaseException):
    pass


def alarm(signum, frame):
    raise StillRunning()


signal.signal(signal.SIGALRM, alarm)
results = []
for argv in json.loads(Path(cases_file).read_text()):
    before = snapshot()
    with tempfile.TemporaryFile() as err, open(os.devnull, "wb") as null:
        sys.stdout.flush()
        sys.stderr.flush()
        saved = os.dup(1), os.dup(2)
        os.dup2(null.fileno(), 1)
        os.dup2(err.fileno(), 2)
        signal.alarm(limit)
        try:
            status = main(argv)
        except SystemExit as exit:
            status = exit.code if isinstance(exit.code, int) else (0 if exit.code is None else 1)
        except StillRunning:
            status = "still running"
            print(f"still running after {limit} s: the case started work", file=sys.stderr)
        except BaseException:
            traceback.print_exc()
            status = "exception"
        finally:
            signal.alarm(0)
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])
        err.seek(0)
        stderr = err.read().decode("utf-8", "replace")
    after = snapshot()
    results.append({
        "status": status,
        "stderr": stderr,
        "changed": sorted(k for k in before if after.get(k) != before[k]),
        "created": sorted(k for k in after if k not in before),
    })
Path(results_file).write_text(json.dumps(results))
"""


@pytest.fixture(scope="session")
def outcomes(tiny: TinyRuns, tmp_path_factory: pytest.TempPathFactory) -> dict[Case, Any]:
    """Every case's exit status, stderr and changed files, one subprocess per command."""
    root = tmp_path_factory.mktemp("bad-input")
    driver = root / "driver.py"
    driver.write_text(DRIVER)
    environment = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    by_cli = {cli: [case for case in CASES if case.cli == cli] for cli in CLIS}
    pending = list(CLIS)
    running: dict[str, subprocess.Popen[bytes]] = {}
    logs: dict[str, Path] = {}
    while pending or running:
        while pending and len(running) < PARALLEL:
            cli = pending.pop(0)
            work = _work_dir(tiny, root / cli / "work")
            cases_file = root / cli / "cases.json"
            cases_file.write_text(json.dumps([list(case.argv) for case in by_cli[cli]]))
            logs[cli] = root / cli / "process.log"
            command = [sys.executable, str(driver), cli, str(cases_file)]
            command += [str(root / cli / "results.json"), str(CASE_SECONDS)]
            with logs[cli].open("wb") as log:
                running[cli] = subprocess.Popen(
                    command, cwd=work, env=environment, stdout=log, stderr=subprocess.STDOUT
                )
        for cli, process in list(running.items()):
            if process.poll() is not None:
                del running[cli]
                assert process.returncode == 0, f"{cli}: {logs[cli].read_text()[-3000:]}"
        time.sleep(0.05)
    found: dict[Case, Any] = {}
    for cli, cases in by_cli.items():
        results = json.loads((root / cli / "results.json").read_text())
        found.update(zip(cases, results, strict=True))
    return found


@pytest.mark.parametrize("case", CASES, ids=lambda case: f"{case.cli}:{case.name}")
def test_bad_input_is_refused_in_one_line_before_any_work(
    case: Case, outcomes: dict[Case, Any]
) -> None:
    outcome = outcomes[case]
    stderr: str = outcome["stderr"]
    assert "Traceback" not in stderr, stderr
    assert stderr.count("\n") == 1 and stderr.endswith("\n"), stderr
    prog = _parser(case.cli).prog
    assert stderr.startswith(f"{prog}: error: "), stderr
    assert outcome["status"] == case.status, stderr
    assert case.message in stderr, stderr
    if case.argv[-1] == SENTINEL:  # a numeric flag: the value itself is named
        value = case.argv[0].split("=", 1)[1]
        assert f"got '{value}'" in stderr, stderr
        assert SENTINEL not in stderr, f"the value was accepted: {stderr}"
    assert outcome["changed"] == [], f"files changed or removed: {outcome['changed']}"
    assert outcome["created"] == [], f"files written: {outcome['created']}"


def _numeric_default(action: argparse.Action) -> bool:
    default = action.default
    return isinstance(default, int | float) and not isinstance(default, bool)


@pytest.mark.parametrize("cli", CLIS)
def test_every_numeric_flag_goes_through_the_layer(cli: str) -> None:
    """No flag is typed with a bare ``int`` or ``float``; every numeric one is checked."""
    for action in _parser(cli)._actions:
        flag = "/".join(action.option_strings) or action.dest
        kind: Callable[..., Any] | None = action.type  # type: ignore[assignment]
        assert kind not in (int, float), f"{cli} {flag} is typed with a bare {kind}"
        assert getattr(kind, "__name__", "") != "<lambda>", f"{cli} {flag}: an unchecked lambda"
        if _numeric_default(action) and action.nargs != 0:
            allowed = getattr(kind, "allowed", None)
            assert isinstance(allowed, Interval), f"{cli} {flag} is numeric but not checked"


def test_the_suite_covers_every_command_and_flag() -> None:
    """Every command has cases; every checked numeric flag has at least one forbidden value."""
    assert {case.cli for case in CASES} == set(CLIS)
    numeric = {(case.cli, case.name.split("=")[0]) for case in CASES if case.argv[-1] == SENTINEL}
    for cli in CLIS:
        for flag, _, _ in _numeric_actions(cli):
            assert (cli, flag) in numeric, f"{cli} {flag} has no forbidden value"
    assert len(set(CASES)) == len(CASES)
