"""YAML -> typed recipe config: `base:` inheritance, dotted overrides, errors that name key and file.

Every leaf value remembers where it came from (which YAML file, or the command line), so an error
can point at the file the user must edit rather than at the merged result.
"""
from __future__ import annotations

import difflib
import typing
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from data_tools.overrides import OverrideError, apply_override
from trainers.config.recipes import RECIPE_CONFIGS
from trainers.errors import ConfigError

CONFIG_ROOT = Path(__file__).resolve().parents[2] / "configs"


def cmdline_origin(item: str) -> str:
    """How an error names a value that came from the command line, not from any file."""
    return f"the command-line override '{item}'"


def resolve_config_path(path: str | Path) -> Path:
    """A path as given, else relative to the shipped configs (so `configs/smoke/x.yaml` and
    `smoke/x.yaml` work from any directory once installed)."""
    p = Path(path)
    if p.is_file():
        return p.resolve()
    for candidate in (CONFIG_ROOT / p, CONFIG_ROOT.parent / p):
        if candidate.is_file():
            return candidate.resolve()
    raise ConfigError(f"config file not found: {path} (looked in the current directory and in the "
                      f"shipped configs under {CONFIG_ROOT}; `kdtune ls` lists them)")


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML: {e}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of sections, got {type(data).__name__}")
    return data


def _merge(dst: dict, src: dict, origins: dict, source: str | None, prefix: str = "") -> None:
    """Deep-merge src into dst; a mapping merges key by key, anything else replaces. `source` is the
    file src was read from, recorded per leaf; None for an already-merged base, whose leaves were
    recorded (with the file that really holds them, however deep the chain) when it was loaded."""
    for key, value in src.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and isinstance(dst.get(key), dict):
            _merge(dst[key], value, origins, source, path + ".")
        else:
            dst[key] = value
            if source is None:
                continue
            origins[path] = source
            if isinstance(value, dict):
                for sub in _leaf_paths(value, path + "."):
                    origins[sub] = source


def _leaf_paths(d: dict, prefix: str) -> list[str]:
    out = []
    for k, v in d.items():
        out.extend(_leaf_paths(v, f"{prefix}{k}.") if isinstance(v, dict) else [f"{prefix}{k}"])
    return out


def load_raw(path: Path, origins: dict, _chain: tuple[Path, ...] = ()) -> dict[str, Any]:
    """The merged mapping of a file and its `base:` chain (bases first, the file wins)."""
    if path in _chain:
        raise ConfigError(f"{path}: `base:` chain loops back to itself ({' -> '.join(map(str, _chain))})")
    data = _read_yaml(path)
    merged: dict[str, Any] = {}
    bases = data.pop("base", None)
    for base in [bases] if isinstance(bases, str) else (bases or []):
        base_path = (path.parent / base).resolve()
        if not base_path.is_file():
            raise ConfigError(f"{path}: base file not found: {base} (resolved to {base_path})")
        _merge(merged, load_raw(base_path, origins, _chain + (path,)), origins, None)
    _merge(merged, data, origins, str(path))
    return merged


def apply_overrides(raw: dict, overrides: list[str], origins: dict) -> None:
    """Command-line `key.sub=value` items (grammar: data_tools.overrides), each key remembered as
    coming from its override so a typo there is not blamed on the config file."""
    for item in overrides:
        try:
            written = apply_override(raw, item)
        except OverrideError as e:
            raise ConfigError(f"command line: {e}") from None
        for parts in written:
            origins[".".join(parts)] = cmdline_origin(item)


def _source_of(key: str, origins: dict, main: Path) -> str:
    """Where the value at `key` came from: its own record, else that of any leaf below it (an
    unknown section typed on the command line), else that of the section above it."""
    if key in origins:
        return origins[key]
    below = [src for k, src in origins.items() if k.startswith(key + ".")]
    if below:
        return below[-1]   # the command line is applied last: its record wins
    return _source_of(key.rpartition(".")[0], origins, main) if "." in key else str(main)


def _fields_at(model_cls: type[BaseModel], loc: tuple) -> list[str]:
    """Field names valid at a location, for 'did you mean' suggestions."""
    cls = model_cls
    for part in loc[:-1]:
        field = cls.model_fields.get(str(part)) if isinstance(cls, type) else None
        ann = getattr(field, "annotation", None)
        # an optional section (`X | None`) suggests X's keys
        models = [a for a in (typing.get_args(ann) or (ann,)) if isinstance(a, type) and issubclass(a, BaseModel)]
        if len(models) != 1:
            return []
        cls = models[0]
    return list(cls.model_fields)


def _format_errors(err: ValidationError, model_cls: type[BaseModel], origins: dict, main: Path) -> str:
    lines: list[str] = []
    failed: dict[str, list[str]] = {}   # key -> what each union member wanted: one line per key
    for e in err.errors():
        # pydantic names the union member tried (`list[str]`, `literal['all-linear']`): not a key
        loc = tuple(str(x) for x in e["loc"] if "[" not in str(x))
        key = ".".join(loc) or "(top level)"
        source = _source_of(key, origins, main) if loc else str(main)
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            close = difflib.get_close_matches(loc[-1], _fields_at(model_cls, loc), n=1, cutoff=0.5)
            hint = f" — did you mean '{'.'.join(loc[:-1] + (close[0],))}'?" if close else \
                f" (valid keys here: {', '.join(_fields_at(model_cls, loc)) or 'none'})"
            lines.append(f"unknown key '{key}' in {source}{hint}")
        elif e["type"] == "missing":
            lines.append(f"missing required key '{key}' (not set in {main} or its base files)")
        elif key in failed:
            failed[key].append(msg)
        else:
            failed[key] = [msg]
            # a rule across keys reports a whole section as its input: never dump that dict
            got = "" if not loc or isinstance(e.get("input"), dict) else f" (got {e.get('input')!r})"
            lines.append((key, f"'{key}' in {source}: " if loc else f"{source}: ", got))
    return "\n".join(line if isinstance(line, str) else f"{line[1]}{'; or '.join(failed[line[0]])}{line[2]}"
                     for line in lines)


def load_config(path: str | Path, overrides: list[str] | None = None, recipe: str | None = None):
    """Load, merge, override and validate; returns the recipe's typed config."""
    main = resolve_config_path(path)
    origins: dict[str, str] = {}
    raw = load_raw(main, origins)
    apply_overrides(raw, overrides or [], origins)
    file_recipe = raw.get("recipe")
    if recipe and file_recipe and file_recipe != recipe:
        raise ConfigError(f"{main} is a '{file_recipe}' config but was run as '{recipe}' "
                          f"(use `kdtune run {file_recipe} --config {path}`)")
    name = recipe or file_recipe
    if name not in RECIPE_CONFIGS:
        known = ", ".join(sorted(RECIPE_CONFIGS))
        raise ConfigError(f"{main}: unknown recipe {name!r}; set `recipe:` to one of: {known}")
    raw.setdefault("recipe", name)
    cls = RECIPE_CONFIGS[name]
    try:
        return cls.model_validate(raw)
    except ValidationError as e:
        raise ConfigError(f"invalid config {main}:\n" + _format_errors(e, cls, origins, main)) from None


def dump_config(cfg: BaseModel) -> str:
    return yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False, allow_unicode=True)
