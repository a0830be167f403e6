"""configs/ for `trl sft`: the shipped config is valid, and a bad key or value is named before launch."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from helpers.launch import ConfigError, main, validate_sft_config

CONFIG = Path(__file__).resolve().parents[1] / "configs" / "python_style.yaml"


def _write(tmp_path, **changes) -> Path:
    config = yaml.safe_load(CONFIG.read_text())
    config.update(changes)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_the_shipped_config_is_valid_and_holds_02s_recipe():
    config = validate_sft_config(CONFIG)
    assert (config["lora_r"], config["lora_alpha"], config["lora_dropout"]) == (4, 8, 0.0)
    assert (config["max_steps"], config["learning_rate"], config["lr_scheduler_type"]) == (40, 1e-3, "cosine")
    assert config["completion_only_loss"] is True and config["max_length"] == 384
    assert config["activation_checkpointing_kwargs"] == {"use_reentrant": False}


def test_an_unknown_key_is_named_with_the_nearest_known_one(tmp_path):
    with pytest.raises(ConfigError, match=r"unknown key `lerning_rate`.*Did you mean `learning_rate`"):
        validate_sft_config(_write(tmp_path, lerning_rate=2e-4))


@pytest.mark.parametrize("key, value", [("learning_rate", "fast"), ("max_steps", 40.5), ("use_peft", "yes"),
                                        ("lora_r", True), ("dtype", "float8")])
def test_a_value_of_the_wrong_type_is_named(tmp_path, key, value):
    with pytest.raises(ConfigError, match=f"`{key}`"):
        validate_sft_config(_write(tmp_path, **{key: value}))


def test_the_command_line_says_ok_or_names_the_problem(tmp_path, capsys):
    assert main(["check", str(CONFIG)]) == 0
    assert "all known" in capsys.readouterr().out
    assert main(["check", str(_write(tmp_path, warmup_step=4))]) == 1
    assert "`warmup_step`" in capsys.readouterr().err
