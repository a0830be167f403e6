"""The recipe is written once: notebook 02's cells are the teaching copy, and every other copy equals them.

The copies: configs/python_style.yaml (what `trl sft` trains, notebook 08), the defaults of
helpers.training.make_lora_config / sft_settings, and helpers.recipes.Recipe. Compared are the values that
make the recipe: rank, alpha, dropout, targets, learning rate, steps, batch, schedule, warmup, max length.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest
import yaml

from helpers.hardware import detect_hardware
from helpers.recipes import Recipe
from helpers.training import make_lora_config, sft_settings

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_02 = ROOT / "notebooks" / "02_completion_only_sft.ipynb"
YAML = ROOT / "configs" / "python_style.yaml"
# The recipe fields of 02's two cells, by the names of LoraConfig and SFTConfig.
LORA_FIELDS = ("r", "lora_alpha", "lora_dropout", "target_modules")
SFT_FIELDS = ("learning_rate", "lr_scheduler_type", "warmup_steps", "max_steps", "per_device_train_batch_size",
              "gradient_accumulation_steps", "max_length", "completion_only_loss")
# The YAML names TRL's ModelConfig gives the LoRA fields.
YAML_NAMES = {"r": "lora_r", "lora_alpha": "lora_alpha", "lora_dropout": "lora_dropout",
              "target_modules": "lora_target_modules"}


def _code_cells(notebook: Path) -> list[dict]:
    return [cell for cell in json.loads(notebook.read_text(encoding="utf-8"))["cells"] if cell["cell_type"] == "code"]


def _call_keywords(cells: list[dict], name: str) -> dict[str, ast.expr]:
    """The keyword expressions of the first `name(...)` call written in the cells."""
    for cell in cells:
        for node in ast.walk(ast.parse("".join(cell["source"]))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == name:
                return {kw.arg: kw.value for kw in node.keywords if kw.arg}
    raise AssertionError(f"no {name}(...) call in {NOTEBOOK_02.name}")


def notebook_recipe(notebook: Path, profile) -> dict:
    """02's recipe as it would run on `profile`: its parameters cell, then the expressions of its config cells."""
    cells = _code_cells(notebook)
    names: dict = {"profile": profile, "max": max}
    exec("".join(next(c for c in cells if "parameters" in c["metadata"].get("tags", []))["source"]), names)
    names["batch_size"] = names["BATCH_SIZE"] or profile.batch_size
    recipe = {}
    for call, fields in (("LoraConfig", LORA_FIELDS), ("SFTConfig", SFT_FIELDS)):
        keywords = _call_keywords(cells, call)
        for field in fields:
            assert field in keywords, f"{notebook.name}: {call}(...) must write {field}= (it is part of the recipe)"
            recipe[field] = eval(compile(ast.Expression(keywords[field]), notebook.name, "eval"), names)
    return recipe


def yaml_recipe(path: Path) -> dict:
    config = yaml.safe_load(path.read_text(encoding="utf-8"))
    return {field: config.get(YAML_NAMES.get(field, field)) for field in (*LORA_FIELDS, *SFT_FIELDS)}


def helper_recipe(profile) -> dict:
    lora, sft = make_lora_config(), sft_settings(profile, "unused")
    targets = lora.target_modules if isinstance(lora.target_modules, str) else sorted(lora.target_modules)
    return {"r": lora.r, "lora_alpha": lora.lora_alpha, "lora_dropout": lora.lora_dropout, "target_modules": targets,
            **{field: sft[field] for field in SFT_FIELDS}}


def differences(teaching: dict, copy: dict) -> dict[str, tuple]:
    """field -> (02's value, the copy's value) wherever they differ."""
    return {field: (value, copy.get(field)) for field, value in teaching.items() if copy.get(field) != value}


# The YAML is for a bf16 GPU of 16-24 GB (an L4: 4-bit, batch 8); the helpers run on whatever profile they get.
L4 = dict(cuda_available=True, capability=(8, 9), gpu_name="L4", gpu_memory_gb=22.0, verbose=False)


def test_the_yaml_is_02s_recipe():
    assert differences(notebook_recipe(NOTEBOOK_02, detect_hardware(**L4)), yaml_recipe(YAML)) == {}


@pytest.mark.parametrize("where", ["cpu-fp32", "cpu-bf16", "t4", "l4"])
def test_the_helper_defaults_are_02s_recipe(where):
    profile = {"cpu-fp32": lambda: detect_hardware(cuda_available=False, cpu_bf16=None, verbose=False),
               "cpu-bf16": lambda: detect_hardware(cuda_available=False, cpu_bf16="AMX", verbose=False),
               "t4": lambda: detect_hardware(**{**L4, "capability": (7, 5), "gpu_name": "T4", "gpu_memory_gb": 15.0}),
               "l4": lambda: detect_hardware(**L4)}[where]()
    assert differences(notebook_recipe(NOTEBOOK_02, profile), helper_recipe(profile)) == {}


def test_the_recipe_dataclass_defaults_are_02s(cpu_profile):
    recipe, teaching = Recipe("defaults"), notebook_recipe(NOTEBOOK_02, cpu_profile)
    assert (recipe.r, recipe.alpha, recipe.learning_rate, recipe.steps) == (
        teaching["r"], teaching["lora_alpha"], teaching["learning_rate"], teaching["max_steps"])
    assert recipe.batch_size is None and recipe.dropout == teaching["lora_dropout"], "None: the profile's batch, as 02"


def test_an_edited_copy_is_caught(tmp_path):
    """The check fails when one copy changes: the YAML's rank, then 02's learning rate."""
    profile = detect_hardware(**L4)
    edited_yaml = tmp_path / "python_style.yaml"
    edited_yaml.write_text(YAML.read_text(encoding="utf-8").replace("lora_r: 4 ", "lora_r: 8 "), encoding="utf-8")
    assert differences(notebook_recipe(NOTEBOOK_02, profile), yaml_recipe(edited_yaml)) == {"r": (4, 8)}
    content = json.loads(NOTEBOOK_02.read_text(encoding="utf-8"))
    for cell in content["cells"]:
        cell["source"] = [line.replace("LEARNING_RATE = 1e-3", "LEARNING_RATE = 2e-4") for line in cell["source"]]
    edited_notebook = tmp_path / NOTEBOOK_02.name
    edited_notebook.write_text(json.dumps(content), encoding="utf-8")
    assert differences(notebook_recipe(edited_notebook, profile), yaml_recipe(YAML)) == {
        "learning_rate": (2e-4, 1e-3)}
