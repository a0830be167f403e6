"""The memory estimator's counts against real models, and its terms against what was measured."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoConfig, Qwen2Config, Qwen2ForCausalLM

from helpers.models import OFFLINE_PRESET, resolve_model_source
from helpers.scaling import (
    GB,
    QWEN25_05B_SHAPE,
    compute_budget,
    count_parameters,
    estimate_training_memory,
    lora_parameters,
)


@pytest.fixture(scope="module")
def smollm2_config():
    return AutoConfig.from_pretrained(resolve_model_source(OFFLINE_PRESET)[0])


def test_parameter_counts_equal_the_real_models(smollm2_config):
    assert count_parameters(smollm2_config)["total"] == 134_515_008  # notebook 07's full fine-tuning row
    qwen = Qwen2Config(**QWEN25_05B_SHAPE)
    with torch.device("meta"):
        model = Qwen2ForCausalLM(qwen)
    assert count_parameters(qwen)["total"] == sum(p.numel() for p in model.parameters()) == 494_032_768


def test_lora_counts_equal_what_peft_reports(smollm2_config):
    # Notebook 07 (r=4 and r=16 on all linear layers) and 06 (r=16 on q_proj and v_proj), as PEFT counted them.
    assert lora_parameters(smollm2_config, 4) == 1_221_120
    assert lora_parameters(smollm2_config, 16) == 4_884_480
    assert lora_parameters(smollm2_config, 16, ["q_proj", "v_proj"]) == 921_600


def test_4bit_weights_match_the_measured_footprint(smollm2_config):
    # 07 measured (get_memory_footprint, on a CPU, where what is not 4-bit stays fp32): 159 MB for the NF4 base,
    # 513 MB for the fp32 base.
    qlora = estimate_training_memory(smollm2_config, "qlora", weight_bytes=4)
    assert qlora.weights_gb * 1024 == pytest.approx(159, rel=0.05)
    assert estimate_training_memory(smollm2_config, "lora", weight_bytes=4).weights_gb * 1024 == pytest.approx(513, rel=0.01)


def test_the_terms_move_the_way_they_should():
    qwen = Qwen2Config(**QWEN25_05B_SHAPE)
    qlora, lora, full = (estimate_training_memory(qwen, m, batch_size=8) for m in ("qlora", "lora", "full"))
    assert qlora.weights_gb < lora.weights_gb == full.weights_gb
    assert qlora.trainable_gb == lora.trainable_gb < full.trainable_gb
    assert full.trainable_gb == pytest.approx(494_032_768 * 16 / GB, rel=0.01)  # 16 bytes per trained parameter
    sharded = estimate_training_memory(qwen, "full", num_processes=8, shard=True)
    assert sharded.trainable_gb == pytest.approx(full.trainable_gb / 8, rel=0.01)
    assert estimate_training_memory(qwen, "qlora", gradient_checkpointing=False).activations_gb > qlora.activations_gb
    assert "estimate" in qlora.note
    with pytest.raises(ValueError, match="method"):
        estimate_training_memory(qwen, "int8")


def test_the_docs_scaling_table_is_what_the_estimator_prints_today():
    from pathlib import Path

    from helpers.scaling import scaling_markdown

    page = (Path(__file__).resolve().parents[1] / "docs" / "scale_out.md").read_text(encoding="utf-8")
    assert scaling_markdown() in page, "docs/scale_out.md's scaling table is stale: paste `python -m helpers.scaling`"
    assert "**every figure is an estimate**" in page


def test_the_7b_shape_counts_qwen25_7bs_published_parameters():
    from helpers.scaling import QWEN25_7B_SHAPE

    assert count_parameters({**QWEN25_7B_SHAPE, "model_type": "qwen2"})["total"] == 7_615_616_512


def test_compute_budget_known_values():
    # A 70B model: Chinchilla-optimal at 1.4T tokens, about 5.9e23 FLOPs (the paper's Chinchilla budget).
    budget = compute_budget(70_000_000_000, 1_400_000_000_000)
    assert budget["optimal_tokens"] == 1_400_000_000_000
    assert budget["tokens_ratio"] == pytest.approx(1.0)
    assert budget["flops"] == pytest.approx(5.88e23)
    # SmolLM2-135M fine-tuned on 100k tokens: 6 * 135e6 * 1e5 = 8.1e13 FLOPs; optimal 2.7B tokens.
    small = compute_budget(135_000_000, 100_000)
    assert small["flops"] == pytest.approx(8.1e13)
    assert small["optimal_tokens"] == 2_700_000_000
    assert small["tokens_ratio"] == pytest.approx(100_000 / 2.7e9)
    with pytest.raises(ValueError):
        compute_budget(0, 10)
