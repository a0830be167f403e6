"""Check a `trl sft` YAML config before launching it: every key known, every value of the right type.

TRL's `sft` command reads its YAML with `fail_with_unknown_args=False`, so a misspelt key (`lerning_rate`)
is silently ignored and the run trains with the default. This check names the key instead:

    python -m helpers.launch check configs/python_style.yaml
"""

from __future__ import annotations

import dataclasses
import difflib
import enum
import sys
import types
import typing
from pathlib import Path


class ConfigError(ValueError):
    """A config key that TRL does not know, or a value of the wrong type; the message names the file and key."""


def trl_sft_fields() -> dict[str, tuple[type, str, list | None]]:
    """Every key `trl sft` reads from its YAML: field name -> (annotated type, owning dataclass, allowed choices)."""
    from trl import DatasetMixtureConfig, ModelConfig, ScriptArguments, SFTConfig

    fields: dict[str, tuple[type, str, list | None]] = {}
    for owner in (ScriptArguments, SFTConfig, ModelConfig, DatasetMixtureConfig):
        hints = typing.get_type_hints(owner)
        for item in dataclasses.fields(owner):
            if item.init:
                fields.setdefault(item.name, (hints.get(item.name, object), owner.__name__,
                                              item.metadata.get("choices")))
    return fields


def _type_name(annotation) -> str:
    return getattr(annotation, "__name__", None) or str(annotation).replace("typing.", "")


def _matches(value, annotation) -> bool:
    """Whether a YAML value fits a dataclass field's annotation (as HfArgumentParser would accept it)."""
    if annotation is typing.Any or annotation is object:
        return True
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return any(_matches(value, option) for option in typing.get_args(annotation))
    if annotation is type(None):
        return value is None
    if origin is typing.Literal:
        return value in typing.get_args(annotation)
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return value in {member.value for member in annotation} or isinstance(value, annotation)
    if origin in (list, tuple):
        (item_type, *_rest) = typing.get_args(annotation) or (object,)
        # A plain string stands for a one-word list where TRL passes it on as it is ("all-linear" for PEFT).
        return isinstance(value, str) or (isinstance(value, list) and all(_matches(item, item_type) for item in value))
    if origin is dict or annotation is dict:
        return isinstance(value, dict)
    if annotation is bool:
        return isinstance(value, bool)
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if annotation is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if annotation is str:
        return isinstance(value, str)
    if dataclasses.is_dataclass(annotation):
        return isinstance(value, dict)
    return True  # anything more exotic: left to TRL


def validate_sft_config(path: str | Path) -> dict:
    """Load a `trl sft` YAML config and check every key and value; returns the mapping, raises ConfigError."""
    import yaml

    path = Path(path)
    try:
        config = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: not valid YAML: {error}") from error
    if not isinstance(config, dict):
        raise ConfigError(f"{path}: must be a YAML mapping of `trl sft` options, not {type(config).__name__}.")
    known = trl_sft_fields()
    for key, value in config.items():
        if key == "env":
            if not isinstance(value, dict):
                raise ConfigError(f"{path}: `env` must be a mapping of environment variables.")
            continue
        if key not in known:
            close = difflib.get_close_matches(str(key), known, n=1, cutoff=0.8)
            hint = f" Did you mean `{close[0]}`?" if close else ""
            raise ConfigError(f"{path}: unknown key `{key}`: `trl sft` would ignore it silently.{hint}")
        annotation, owner, choices = known[key]
        if not _matches(value, annotation):
            raise ConfigError(f"{path}: `{key}` ({owner}) must be {_type_name(annotation)}, "
                              f"got {value!r} ({type(value).__name__}).")
        if choices and value is not None and value not in choices:
            raise ConfigError(f"{path}: `{key}` ({owner}) must be one of {choices}, got {value!r}.")
    return config


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 2 or args[0] != "check":
        print("usage: python -m helpers.launch check CONFIG.yaml", file=sys.stderr)
        return 2
    try:
        config = validate_sft_config(args[1])
    except ConfigError as error:
        print(error, file=sys.stderr)
        return 1
    print(f"{args[1]}: {len(config)} keys, all known to `trl sft`, all of the right type.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
