"""The registry of recipe configs: recipe name -> config class, one class per recipe, each composed
from the shared sections, so `kdtune validate` can check any file whose `recipe:` key names it."""
from __future__ import annotations

from pydantic import BaseModel

from trainers.config.bench import BenchConfig
from trainers.config.distill import DistillCacheConfig, DistillConfig, TracesConfig
from trainers.config.eval import EvalConfig
from trainers.config.sft import SFTConfig

RECIPE_CONFIGS: dict[str, type[BaseModel]] = {
    "sft": SFTConfig, "distill": DistillConfig, "distill-cache": DistillCacheConfig,
    "traces": TracesConfig, "eval": EvalConfig, "bench": BenchConfig,
}
