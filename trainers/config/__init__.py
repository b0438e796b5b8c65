"""Typed configs: shared sections, one class per recipe, YAML loading with overrides."""
from trainers.config.loader import dump_config, load_config, resolve_config_path
from trainers.config.recipes import RECIPE_CONFIGS, SFTConfig

__all__ = ["RECIPE_CONFIGS", "SFTConfig", "dump_config", "load_config", "resolve_config_path"]
