"""The CLI documents itself: help for every argument of every (sub-)command, `--version`, and
top-level examples that name shipped configs which really validate."""
import argparse
import re

import pytest

from recipes.cli import EXAMPLES, build_parser
from tests.helpers import ROOT, run_cli
from trainers.config.loader import load_config


def _commands(parser, path=("kdtune",)):
    """(command path, parser) for the top level and every sub-command, depth first."""
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _commands(sub, path + (name,))


COMMANDS = list(_commands(build_parser()))


def test_every_command_is_reached():
    names = {" ".join(p[1:]) for p, _ in COMMANDS}
    assert {"run", "validate", "ls", "cp", "tiny-model", "plan", "report",
            "data prepare", "data pii", "data synth"} <= names


@pytest.mark.parametrize("path,parser", COMMANDS, ids=lambda x: " ".join(x) if isinstance(x, tuple) else "")
def test_every_argument_has_help(path, parser):
    undocumented = [a.dest for a in parser._actions
                    if not isinstance(a, (argparse._HelpAction, argparse._SubParsersAction))
                    and not (a.help or "").strip()]
    assert undocumented == [], f"{' '.join(path)}: no help for {undocumented}"


def test_version_prints_the_installed_version(tmp_path):
    from importlib import metadata
    proc = run_cli(["--version"], cwd=tmp_path)
    assert proc.returncode == 0 and proc.stdout.strip() == f"kdtune {metadata.version('kdtune')}"


def test_top_level_help_shows_examples_whose_configs_validate(tmp_path):
    proc = run_cli(["--help"], cwd=tmp_path)
    assert proc.returncode == 0 and "examples:" in proc.stdout and "kdtune run sft --config" in proc.stdout
    configs = re.findall(r"--config (\S+\.yaml)", EXAMPLES)
    assert len(configs) >= 4
    for cfg in configs:
        if cfg != "my.yaml":
            assert (ROOT / "configs" / cfg).is_file(), cfg
            load_config(cfg)
