"""One run, one directory: atomic creation with collision suffixes, an exclusive lock held for the
run, removal of what a run wrote when it fails before its first step, and which runs resume=auto sees."""
import json
from datetime import datetime, timedelta

import pytest

from trainers.errors import UserError
from trainers.run.run_dir import RunDir, claim_new_run_dir, find_unfinished_run, make_run_dir


def test_timestamped_names_never_collide(tmp_path):
    # Every name the clock can give in the next few seconds is already taken (as by runs started
    # in the same second): the claim must add a suffix, never hand out an existing directory.
    now = datetime.now()
    taken = {f"cfg-{(now + timedelta(seconds=s)).strftime('%Y%m%d-%H%M%S')}" for s in range(-1, 4)}
    for name in taken:
        (tmp_path / name).mkdir()
        (tmp_path / name / "marker").write_text(name)
    claimed = [claim_new_run_dir(tmp_path, "cfg") for _ in range(3)]
    assert len({p.name for p in claimed}) == 3
    for p in claimed:
        assert p.name not in taken and p.is_dir() and not any(p.iterdir())
        assert p.name.rsplit("-", 1)[0] in taken   # <stem>-<timestamp>-N


def test_make_run_dir_reports_whether_it_created(tmp_path):
    assert make_run_dir(tmp_path / "a" / "b") is True
    assert make_run_dir(tmp_path / "a" / "b") is False
    (tmp_path / "file").write_text("x")
    with pytest.raises(UserError, match="Not a directory"):
        make_run_dir(tmp_path / "file" / "run")


def test_a_locked_directory_refuses_a_second_run_until_released(tmp_path):
    first = RunDir(tmp_path / "r", True)
    first.lock()
    second = RunDir(tmp_path / "r", True)
    with pytest.raises(UserError, match=r"in use by another run \(pid \d+"):
        second.lock()
    first.unlock()
    second.lock()     # released: the directory can be taken again
    second.unlock()


def test_discard_removes_only_what_a_run_writes_before_its_first_step(tmp_path):
    run = RunDir(tmp_path / "fresh", True, created=True)
    run.lock()
    run.write_text("config.yaml", "x: 1\n")
    run.add_history({"event": "start"})
    run.discard()
    run.unlock()
    assert not (tmp_path / "fresh").exists()
    # a directory the user pointed at keeps whatever else it held
    keep = RunDir(tmp_path / "theirs", True)
    (keep.path / "notes.txt").write_text("mine")
    keep.write_text("config.yaml", "x: 1\n")
    keep.discard()
    assert sorted(p.name for p in keep.path.iterdir()) == ["notes.txt"]


def test_resume_auto_finds_only_unfinished_runs_of_its_own_config(tmp_path):
    def make(name, checkpoint=True, finished=False):
        d = tmp_path / name
        if checkpoint:
            (d / "checkpoints" / "step-0000002").mkdir(parents=True)
            (d / "checkpoints" / "step-0000002" / "state.json").write_text(json.dumps({"step": 2}))
        else:
            d.mkdir()
        if finished:
            (d / "manifest.json").write_text("{}")
        return d
    make("cfg-20260101-000000", finished=True)
    make("cfg-20260101-000001", checkpoint=False)        # died before its first checkpoint
    make("cfg-smoke-20260101-000002")                     # another config (the --smoke variant)
    assert find_unfinished_run(tmp_path, "cfg") is None
    want = make("cfg-20260101-000003-2")
    assert find_unfinished_run(tmp_path, "cfg") == want
