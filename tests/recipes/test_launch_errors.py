"""`--nproc N` with bad input says what is wrong once, exits 2, and shows no traceback; a worker that
crashes still gets torchrun's own failure report (the traceback is what the user needs then)."""
import os
import subprocess
import sys

import pytest

from tests.helpers import ROOT, run_cli

pytestmark = pytest.mark.slow


def test_a_bad_config_key_is_refused_before_any_worker_starts(tmp_path):
    r = run_cli(["run", "sft", "--nproc", "2", f"output.dir={tmp_path}", "train.bogus=1"], cwd=tmp_path)
    assert r.returncode == 2, r.stderr[-2000:]
    assert r.stderr.count("kdtune: error:") == 1 and "unknown key 'train.bogus'" in r.stderr
    assert "Traceback" not in r.stderr and "ChildFailedError" not in r.stderr
    assert "Loading weights" not in r.stderr + r.stdout   # no worker was started


@pytest.mark.parametrize("override, says", [("data.path=/nonexistent/train.jsonl", "file not found"),
                                            ("model.path=/nonexistent/model", "model.path '/nonexistent/model'")])
def test_an_input_error_met_by_the_workers_is_printed_once_without_a_traceback(tmp_path, override, says):
    r = run_cli(["run", "sft", "--nproc", "2", f"output.dir={tmp_path}", "train.max_steps=2", override],
                cwd=tmp_path)
    assert r.returncode == 2, r.stderr[-2000:]
    assert r.stderr.count("kdtune: error:") == 1 and says in r.stderr, r.stderr[-2000:]
    for noise in ("Traceback", "ChildFailedError", "failed (exitcode", "Root Cause"):
        assert noise not in r.stderr, r.stderr[-2000:]


def test_a_worker_crash_keeps_torchruns_failure_report(tmp_path):
    script = tmp_path / "crash.py"
    script.write_text("raise RuntimeError('a bug, not bad input')\n")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    r = subprocess.run([sys.executable, "-m", "recipes.launch", "--standalone", "--nproc_per_node=1",
                        str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=300, env=env)
    assert r.returncode != 0
    assert "a bug, not bad input" in r.stderr and "ChildFailedError" in r.stderr
