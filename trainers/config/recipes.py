"""The one recipe registry: recipe name -> the module that runs it, its config class and the config
`kdtune run NAME` uses when --config is omitted. The CLI, `kdtune validate`, bench arms and the
config loader all read it, so a recipe is added here and nowhere else.

The module is named, not imported: trainers must not import recipes (imports point down), and a
recipe's heavy imports are paid only when it runs."""
from __future__ import annotations

import importlib
from pathlib import Path
from typing import NamedTuple

from pydantic import BaseModel

from trainers.config.audit import AuditConfig
from trainers.config.bench import BenchConfig
from trainers.config.distill import DistillCacheConfig, DistillConfig, TracesConfig
from trainers.config.eval import EvalConfig
from trainers.config.sft import SFTConfig


class Recipe(NamedTuple):
    module: str                   # exposes run(cfg, config_stem) -> run directory
    default_config: str           # shipped config (relative to configs/) used without --config
    config: type[BaseModel]       # the typed schema its YAML must satisfy

    def run(self, cfg: BaseModel, config_stem: str) -> Path:
        return importlib.import_module(self.module).run(cfg, config_stem)

    def summary(self) -> str:
        """The first line of the recipe module's docstring (what `kdtune ls` prints)."""
        return ((importlib.import_module(self.module).__doc__ or "").strip().splitlines() or [""])[0]


RECIPES: dict[str, Recipe] = {
    "sft": Recipe("recipes.sft", "smoke/tiny_finance.yaml", SFTConfig),
    "distill": Recipe("recipes.distill", "smoke/tiny_distill.yaml", DistillConfig),
    "distill-cache": Recipe("recipes.distill_cache", "smoke/tiny_distill_cache.yaml", DistillCacheConfig),
    "traces": Recipe("recipes.traces", "smoke/tiny_traces.yaml", TracesConfig),
    "eval": Recipe("recipes.eval", "eval/tiny_mcqa_finance.yaml", EvalConfig),
    "bench": Recipe("recipes.bench", "bench/finance.yaml", BenchConfig),
    "audit": Recipe("recipes.audit", "audit/memorization.yaml", AuditConfig),
}

# name -> config class: a view of RECIPES for the loader and bench, not a second registry
RECIPE_CONFIGS: dict[str, type[BaseModel]] = {name: r.config for name, r in RECIPES.items()}
