"""Two-step SFT runs: LoRA on the tiny model, QLoRA (4-bit) on the CPU; both must learn something."""

from __future__ import annotations

import math

import pytest
import torch
from datasets import Dataset

from helpers.data import load_bundled
from helpers.hardware import detect_hardware
from helpers.memory import measure_training
from helpers.models import TINY_PRESET, load_model_and_tokenizer
from helpers.templates import to_prompt_completion
from helpers.training import (
    attach_lora,
    build_sft_trainer,
    describe_trainable,
    lora_breakdown,
    loss_history,
    make_lora_config,
    make_sft_config,
)


def _run_two_steps(tmp_path, load_in_4bit: bool):
    profile = detect_hardware(load_in_4bit=load_in_4bit, cuda_available=False, verbose=False)
    model, tokenizer = load_model_and_tokenizer(TINY_PRESET, profile, verbose=False)
    data = to_prompt_completion(load_bundled("python_style", "train").select(range(8)), "chatml", tokenizer,
                                max_length=256, verbose=False)
    model = attach_lora(model, make_lora_config(r=8), profile)
    before = {name: p.detach().clone() for name, p in model.named_parameters() if p.requires_grad}
    # No warmup: both steps at the full rate (LoRA's A gets a gradient only once B has left zero).
    config = make_sft_config(profile, str(tmp_path), max_steps=2, learning_rate=1e-2, logging_steps=1,
                             warmup_steps=0, batch_size=4, verbose=False)
    trainer = build_sft_trainer(model, tokenizer, profile, config, data)
    with measure_training(trainer) as metrics:
        trainer.train()
    after = dict(trainer.model.named_parameters())
    changed = [name for name, value in before.items() if not torch.equal(value, after[name].detach().float())]
    return trainer, metrics, before, changed


@pytest.mark.parametrize("load_in_4bit", [False, True], ids=["lora", "qlora-4bit"])
def test_two_step_sft_has_finite_loss_and_changes_the_adapter(tmp_path, load_in_4bit):
    trainer, metrics, before, changed = _run_two_steps(tmp_path, load_in_4bit)
    assert metrics["steps"] == 2
    losses = [loss for _, loss in loss_history(trainer)["train"]]
    assert len(losses) == 2 and all(math.isfinite(loss) for loss in losses)
    assert len(changed) == len(before), "every LoRA matrix must move after two steps"
    assert metrics["tokens_seen"] > 0 and metrics["peak_memory_mb"] > 0
    if load_in_4bit:
        assert getattr(trainer.model, "is_loaded_in_4bit", False)
        assert {p.dtype for p in trainer.model.parameters() if p.requires_grad} == {torch.float32}


def test_trainable_share_counts_4bit_weights_unpacked(capsys):
    full_profile = detect_hardware(cuda_available=False, verbose=False)
    quant_profile = detect_hardware(load_in_4bit=True, cuda_available=False, verbose=False)
    full, _ = load_model_and_tokenizer(TINY_PRESET, full_profile, verbose=False)
    quant, _ = load_model_and_tokenizer(TINY_PRESET, quant_profile, verbose=False)
    full_counts = describe_trainable(attach_lora(full, make_lora_config(r=8), full_profile))
    quant_counts = describe_trainable(attach_lora(quant, make_lora_config(r=8), quant_profile))
    assert full_counts["trainable_params"] == quant_counts["trainable_params"]
    assert full_counts["total_params"] == quant_counts["total_params"]
    assert "Trainable parameters:" in capsys.readouterr().out


def test_attention_only_trains_fewer_parameters_than_all_linear():
    profile = detect_hardware(cuda_available=False, verbose=False)
    counts = {}
    for name, targets in (("qv", ["q_proj", "v_proj"]), ("all", "all-linear")):
        model, _ = load_model_and_tokenizer(TINY_PRESET, profile, verbose=False)
        counts[name] = attach_lora(model, make_lora_config(r=8, target_modules=targets), profile)
    qv, every = counts["qv"].get_nb_trainable_parameters()[0], counts["all"].get_nb_trainable_parameters()[0]
    assert qv < every  # the exact q/v count: test_lora_breakdown_adds_up_to_peft_count


def test_lora_breakdown_adds_up_to_peft_count():
    profile = detect_hardware(cuda_available=False, verbose=False)
    model, _ = load_model_and_tokenizer(TINY_PRESET, profile, verbose=False)
    model = attach_lora(model, make_lora_config(r=8, target_modules=["q_proj", "v_proj"]), profile)
    rows = {row["module"]: row for row in lora_breakdown(model)}
    assert set(rows) == {"q_proj", "v_proj"}
    # r * (in + out) per adapted matrix: q_proj 64->64, v_proj 64->32 in each of 2 layers.
    assert rows["q_proj"]["lora_per_layer"] == 8 * (64 + 64) and rows["q_proj"]["layers"] == 2
    assert rows["v_proj"]["shape"] == "64 -> 32" and rows["v_proj"]["lora_per_layer"] == 8 * (64 + 32)
    assert sum(row["lora_total"] for row in rows.values()) == model.get_nb_trainable_parameters()[0]


def test_lora_alpha_defaults_to_twice_the_rank():
    assert make_lora_config(r=4).lora_alpha == 8
    assert make_lora_config(r=4, alpha=4).lora_alpha == 4


def test_validation_loss_is_computed_on_completions_only(tmp_path, cpu_profile):
    """The eval loss is the mean cross-entropy over completion tokens only, computed here by hand from the logits."""
    model, tokenizer = load_model_and_tokenizer(TINY_PRESET, cpu_profile, verbose=False)
    records = [{"prompt": "Q: 1+1?\nA:", "completion": " 2"}, {"prompt": "Q: 3+4?\nA:", "completion": " 7"},
               {"prompt": "Q: What is the capital of France?\nA:", "completion": " Paris, on the Seine."},
               {"prompt": "Q: Name a colour.\nA:", "completion": " Blue"}]
    data = Dataset.from_list([{**record, "completion": record["completion"] + tokenizer.eos_token} for record in records])
    # A few steps on the completions make them cheaper to predict than the prompts (a random model scores every
    # token about ln(vocab)), so a loss that counted the prompt could not match the completion-only one by chance.
    # bf16=False: fp32 on any CPU, so the losses compare at float precision.
    config = make_sft_config(cpu_profile, str(tmp_path), max_steps=20, learning_rate=1e-2, batch_size=4, bf16=False,
                             verbose=False)
    torch.manual_seed(0)
    trainer = build_sft_trainer(attach_lora(model, make_lora_config(r=4), cpu_profile), tokenizer, cpu_profile,
                                config, data, data)
    trainer.train()
    completion_only = trainer.evaluate()["eval_loss"]
    whole_config = make_sft_config(cpu_profile, str(tmp_path), batch_size=4, bf16=False, completion_only_loss=False,
                                   verbose=False)
    whole = build_sft_trainer(trainer.model, tokenizer, cpu_profile, whole_config, data, data).evaluate()["eval_loss"]

    batch = next(iter(trainer.get_eval_dataloader()))
    assert len(batch["input_ids"]) == len(records), "one batch holds the whole validation set"
    prompt_ids = [tokenizer(record["prompt"])["input_ids"] for record in records]
    every_token = batch["input_ids"].masked_fill(batch["attention_mask"] == 0, -100)  # padding never counts
    completion_tokens = every_token.clone()
    for row, input_ids in enumerate(batch["input_ids"].tolist()):
        prompt_length = next(len(ids) for ids in prompt_ids if input_ids[: len(ids)] == ids)
        completion_tokens[row, :prompt_length] = -100
    trainer.model.eval()
    with torch.no_grad():
        logits = trainer.model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits.float()

    def mean_cross_entropy(labels):  # position t predicts token t + 1
        return torch.nn.functional.cross_entropy(logits[:, :-1].flatten(0, 1), labels[:, 1:].flatten(),
                                                 ignore_index=-100).item()

    assert completion_only == pytest.approx(mean_cross_entropy(completion_tokens), rel=1e-5)
    assert whole == pytest.approx(mean_cross_entropy(every_token), rel=1e-5)
    assert whole - completion_only > 0.3, "the prompt tokens must not count in the completion-only loss"


def _layer0_lora_b_grads(model, batch) -> dict[str, float]:
    model.train()
    output = model(**batch, labels=batch["input_ids"])
    output.loss.backward()
    return {name: param.grad.abs().sum().item() for name, param in model.named_parameters()
            if "layers.0." in name and "lora_B" in name}


def test_a_4bit_cpu_model_trains_after_generating(capsys):
    """generate() then training on a 4-bit CPU model: gradients must reach every layer (bitsandbytes' CPU repacking)."""
    import bitsandbytes as bnb
    from bitsandbytes.functional import _convert_weight_packed_for_cpu, has_avx512bf16

    profile = detect_hardware(load_in_4bit=True, cuda_available=False, verbose=False)
    reference, tokenizer = load_model_and_tokenizer(TINY_PRESET, profile, verbose=False)
    model, _ = load_model_and_tokenizer(TINY_PRESET, profile, verbose=False)
    layers = [m for m in model.modules() if isinstance(m, bnb.nn.Linear4bit)]
    assert layers and not any(layer.support_avx512bf16_for_cpu for layer in layers), "the loader switches repacking off"
    tokenizer.padding_side = "left"
    batch = tokenizer(["The capital of France is", "def add(a, b):"], return_tensors="pt", padding=True)
    if has_avx512bf16():
        # A model loaded without our loader, on a CPU with AVX512-BF16: generate() repacks every 4-bit layer.
        for layer in layers:
            layer.support_avx512bf16_for_cpu = True
        model.eval()
        with torch.inference_mode():
            model.generate(**batch, max_new_tokens=3, do_sample=False)
    else:
        # This CPU cannot run the repacked kernel: repack by hand, as generate() would on one that can.
        for layer in layers:
            layer.weight.data, layer.weight.quant_state = _convert_weight_packed_for_cpu(
                layer.weight.data, layer.weight.quant_state)
    assert all(layer.weight.quant_state.packing_format_for_cpu for layer in layers)

    torch.manual_seed(0)
    model = attach_lora(model, make_lora_config(r=8, dropout=0.0), profile)
    assert f"Restored {len(layers)} 4-bit layers" in capsys.readouterr().out
    assert not any(getattr(layer.weight.quant_state, "packing_format_for_cpu", False) for layer in layers)
    grads = _layer0_lora_b_grads(model, batch)
    torch.manual_seed(0)
    expected = _layer0_lora_b_grads(attach_lora(reference, make_lora_config(r=8, dropout=0.0), profile), batch)
    assert len(grads) == 7 and all(value > 0 for value in grads.values()), grads
    for name, value in grads.items():
        assert value == pytest.approx(expected[name], rel=0.05), name


def test_cpu_loss_scores_only_labelled_tokens_and_matches_scoring_every_position(tmp_path, cpu_profile):
    """score_labelled_tokens_only: same loss and adapter gradients, but only completion positions reach the LM head."""
    import trl.trainer.utils as trl_utils

    from helpers.training import score_labelled_tokens_only

    model, tokenizer = load_model_and_tokenizer(TINY_PRESET, cpu_profile, verbose=False)
    data = to_prompt_completion(load_bundled("python_style", "train").select(range(4)), "chatml", tokenizer,
                                max_length=256, verbose=False)
    torch.manual_seed(0)
    model = attach_lora(model, make_lora_config(r=4), cpu_profile)
    for name, param in model.named_parameters():  # lora_B starts at zero: give the adapter a gradient path
        if "lora_B" in name:
            param.data.normal_(std=0.02)
    config = make_sft_config(cpu_profile, str(tmp_path), max_steps=1, batch_size=4, bf16=False, verbose=False)
    trainer = build_sft_trainer(model, tokenizer, cpu_profile, config, data)
    assert score_labelled_tokens_only() and trl_utils._use_triton.scores_labelled_only_on_cpu
    batch = trainer._prepare_inputs(next(iter(trainer.get_train_dataloader())))
    labelled = int((batch["labels"][:, 1:] != -100).sum())
    assert 0 < labelled < batch["labels"][:, 1:].numel(), "the batch must mix prompt/padding and completion"

    rows_scored = []
    original_function = trl_utils._ChunkedLogProbFunction

    class Counting:
        @staticmethod
        def apply(hidden, *args):
            rows_scored.append(hidden.shape[0])
            return original_function.apply(hidden, *args)

    def loss_and_grads():
        trainer.model.zero_grad()
        trainer.model.train()
        loss = trainer.compute_loss(trainer.model, dict(batch))
        loss.backward()
        grads = {n: p.grad.detach().clone() for n, p in trainer.model.named_parameters() if p.requires_grad}
        return loss.detach(), grads

    compact = trl_utils._use_triton
    trl_utils._ChunkedLogProbFunction = Counting
    try:
        loss_compact, grads_compact = loss_and_grads()
        trl_utils._use_triton = compact.original  # TRL's own rule on a CPU: every position of the batch
        loss_every, grads_every = loss_and_grads()
    finally:
        trl_utils._use_triton = compact
        trl_utils._ChunkedLogProbFunction = original_function
    assert rows_scored == [labelled, batch["labels"][:, 1:].numel()]
    assert torch.isfinite(loss_compact) and torch.allclose(loss_compact, loss_every, atol=1e-6, rtol=1e-5)
    assert grads_compact.keys() == grads_every.keys() and any(g.abs().sum() > 0 for g in grads_compact.values())
    for name in grads_compact:
        assert torch.allclose(grads_compact[name], grads_every[name], atol=1e-6, rtol=1e-4), name
    # A GPU keeps TRL's own rule; a CPU under torch.compile tracing keeps one shape.
    assert compact(torch.device("cuda")) == compact.original(torch.device("cuda"))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(torch.compiler, "is_compiling", lambda: True)
        assert compact(torch.device("cpu")) is False


def test_two_visible_gpus_build_a_trainer_for_one(tmp_path, cpu_profile, tiny_model, tiny_tokenizer):
    """What transformers computes with two GPUs visible to one process (n_gpu 2), simulated on the CPU."""
    from datasets import Dataset
    from trl import SFTTrainer

    from helpers.training import attach_lora, build_sft_trainer, make_lora_config, make_sft_config

    data = Dataset.from_list([{"prompt": "Q: 1+1?\nA:", "completion": " 2" + tiny_tokenizer.eos_token}] * 4)
    model = attach_lora(tiny_model, make_lora_config(r=4), cpu_profile)
    config = make_sft_config(cpu_profile, str(tmp_path), max_steps=1, verbose=False)
    config._n_gpu = 2
    with pytest.raises(ValueError, match="DataParallel"):
        SFTTrainer(model=model, args=config, train_dataset=data, processing_class=tiny_tokenizer)
    config._n_gpu = 2
    trainer = build_sft_trainer(model, tiny_tokenizer, cpu_profile, config, data)
    assert trainer.args.n_gpu == 1
    assert trainer.args.train_batch_size == config.per_device_train_batch_size
