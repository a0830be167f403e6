"""helpers.preference: sampled answers, the sandbox's verdicts, DPO pairs, GRPO rewards, DPO's reference; McNemar."""

from __future__ import annotations

import math
import socket

import pytest
import torch
from datasets import Dataset
from peft import LoraConfig, PeftModel, get_peft_model
from transformers import GenerationConfig

from helpers.correctness import mcnemar_exact, paired_comparison
from helpers.inference import stop_token_ids
from helpers.models import TINY_PRESET, load_model_and_tokenizer
from helpers.preference import (
    RequestVerdicts,
    Verdict,
    judge,
    preference_pairs,
    reference_log_probs_check,
    sample_answers,
    sandbox_reward,
    style_reward,
    verdict_summary,
)

GOOD = '```python\ndef add(a: int, b: int) -> int:\n    """Return the sum of a and b."""\n    return a + b\n```'
WRONG = '```python\ndef add(a: int, b: int) -> int:\n    """Return the sum of a and b."""\n    return a - b\n```'
UNSTYLED_GOOD = "```python\ndef add(a, b):\n    return a + b\n```"
RECORD = {"instruction": "Write a function that adds two integers.", "checks": ["add(2, 3) == 5", "add(-1, 1) == 0"],
          "entry_point": "add", "family": "add"}


def _group(*answers_and_outcomes):
    return RequestVerdicts(RECORD, [Verdict(answer, outcome, answer != UNSTYLED_GOOD)
                                    for answer, outcome in answers_and_outcomes])


# --- McNemar's exact test -----------------------------------------------------------------------------------------


def test_mcnemar_exact_matches_the_binomial_tail_by_hand():
    # 10 fixed, 2 broken: P(X <= 2) for Binomial(12, 1/2) = (1 + 12 + 66) / 4096; two-sided doubles it.
    assert mcnemar_exact(10, 2) == pytest.approx(2 * 79 / 4096)
    assert mcnemar_exact(2, 10) == mcnemar_exact(10, 2)
    assert mcnemar_exact(0, 6) == pytest.approx(2 / 64)
    assert mcnemar_exact(0, 5) == pytest.approx(2 / 32) and mcnemar_exact(0, 5) > 0.05  # 5 disagreements never suffice
    assert mcnemar_exact(3, 4) == 1.0 and mcnemar_exact(0, 0) == 1.0
    with pytest.raises(ValueError):
        mcnemar_exact(-1, 2)


def test_paired_comparison_counts_each_kind_of_request():
    before = ["pass", "fail", "pass", "error", "timeout", "pass"]
    after = ["pass", "pass", "fail", "pass", "fail", "pass"]
    result = paired_comparison(before, after)
    assert (result["fixed"], result["broken"], result["both_pass"], result["neither"]) == (2, 1, 2, 1)
    assert result["p_value"] == pytest.approx(mcnemar_exact(2, 1)) and "McNemar" in result["text"]
    with pytest.raises(ValueError, match="same requests"):
        paired_comparison(before, after[:-1])


# --- Preference pairs ---------------------------------------------------------------------------------------------


def test_pairs_join_a_passing_styled_answer_with_a_failing_one_in_trls_conversational_format():
    pairs = preference_pairs([_group((GOOD, "pass"), (WRONG, "fail"), (WRONG, "fail"), ("oops", "error"))])
    assert len(pairs) == 1, "identical answers count once; one passing answer makes one pair"
    pair = pairs[0]
    assert pair["prompt"] == [{"role": "user", "content": RECORD["instruction"]}]
    assert pair["chosen"] == [{"role": "assistant", "content": GOOD}]
    assert pair["rejected"] == [{"role": "assistant", "content": WRONG}]


def test_no_pair_from_all_pass_or_all_fail_and_never_two_passing_answers():
    all_pass = _group((GOOD, "pass"), (GOOD.replace("sum", "total"), "pass"), (UNSTYLED_GOOD, "pass"))
    all_fail = _group((WRONG, "fail"), ("x", "error"), ("y", "timeout"))
    assert preference_pairs([all_pass, all_fail]) == []
    assert not all_pass.mixed and not all_fail.mixed
    unstyled_only = _group((UNSTYLED_GOOD, "pass"), (WRONG, "fail"))
    assert preference_pairs([unstyled_only]) == [], "chosen must follow the style too"
    many = _group((GOOD, "pass"), (GOOD + " ", "pass"), (GOOD + "  ", "pass"), (WRONG, "fail"), ("a", "error"),
                  ("b", "timeout"))
    pairs = preference_pairs([many], max_pairs_per_request=2)
    assert len(pairs) == 2
    assert {p["chosen"][0]["content"] for p in pairs}.isdisjoint({p["rejected"][0]["content"] for p in pairs})


def test_judge_runs_each_answer_in_the_sandbox_and_the_summary_counts_mixed_requests():
    groups = judge([RECORD, RECORD], [[GOOD, WRONG], [GOOD, UNSTYLED_GOOD]])
    assert [[v.outcome for v in g.verdicts] for g in groups] == [["pass", "fail"], ["pass", "pass"]]
    assert [[v.styled for v in g.verdicts] for g in groups] == [[True, True], [True, False]]
    summary = verdict_summary(groups)
    assert summary["mixed_requests"] == 1 and summary["mixed_share"] == 0.5
    assert summary["passes_of_k"] == {0: 0, 1: 1, 2: 1} and summary["passing_answers"] == 3
    with pytest.raises(ValueError):
        judge([RECORD], [[GOOD], [GOOD]])


# --- GRPO rewards ---------------------------------------------------------------------------------------------------


def _columns(n):
    return {"checks": [RECORD["checks"]] * n, "entry_point": ["add"] * n}


def test_sandbox_reward_pays_only_for_passing_code_in_either_completion_format():
    plain = [GOOD, WRONG, "no code at all", "```python\ndef add(a, b):\n    raise ValueError\n```"]
    assert sandbox_reward(plain, **_columns(4)) == [1.0, 0.0, 0.0, 0.0]
    conversational = [[{"role": "assistant", "content": GOOD}], [{"role": "assistant", "content": WRONG}]]
    assert sandbox_reward(conversational, prompts=["ignored"] * 2, **_columns(2)) == [1.0, 0.0]
    assert style_reward(plain[:2] + [UNSTYLED_GOOD]) == [1.0, 1.0, 0.0]


def test_sandbox_reward_gives_nothing_for_a_file_write_or_a_socket_and_neither_happens(tmp_path):
    target = tmp_path / "written_by_the_model.txt"
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.settimeout(0.5)
    port = listener.getsockname()[1]
    writes = f"```python\ndef add(a, b):\n    open({str(target)!r}, 'w').write('x')\n    return a + b\n```"
    connects = ("```python\nimport socket\ndef add(a, b):\n    s = socket.socket()\n"
                f"    s.connect(('127.0.0.1', {port}))\n    return a + b\n```")
    try:
        assert sandbox_reward([writes, connects], **_columns(2)) == [0.0, 0.0]
        with pytest.raises(TimeoutError):
            listener.accept()
    finally:
        listener.close()
    assert not target.exists()


# --- Sampling, DPO's reference, GRPO on the tiny model -----------------------------------------------------------------


@pytest.fixture
def tiny_sft(tmp_path, cpu_profile):
    """The tiny model with a random LoRA adapter saved as if 02 had trained it; the untouched base beside it."""
    base, tokenizer = load_model_and_tokenizer(TINY_PRESET, cpu_profile, verbose=False)
    torch.manual_seed(0)
    peft = get_peft_model(base, LoraConfig(r=4, lora_alpha=8, target_modules="all-linear", init_lora_weights=False,
                                           task_type="CAUSAL_LM"))
    with torch.no_grad():  # large enough to move the log-probabilities by more than rounding
        for name, parameter in peft.named_parameters():
            if "lora_B" in name:
                parameter.normal_(0, 1.0)
    peft.save_pretrained(tmp_path / "sft")
    untouched, _ = load_model_and_tokenizer(TINY_PRESET, cpu_profile, verbose=False)
    return tmp_path / "sft", untouched.eval(), tokenizer


def _load_sft(adapter, cpu_profile, trainable):
    base, _ = load_model_and_tokenizer(TINY_PRESET, cpu_profile, verbose=False)
    return PeftModel.from_pretrained(base, str(adapter), is_trainable=trainable)


FP32_CPU = {"use_cpu": True, "bf16": False, "fp16": False, "report_to": "none", "save_strategy": "no",
            "logging_steps": 1, "disable_tqdm": True, "seed": 0}


def test_sample_answers_returns_k_per_prompt_and_refuses_greedy(tiny_sft, cpu_profile):
    adapter, _, tokenizer = tiny_sft
    model = _load_sft(adapter, cpu_profile, trainable=False)
    prompts = [tokenizer.apply_chat_template([{"role": "user", "content": text}], tokenize=False,
                                             add_generation_prompt=True) for text in ("Add two numbers.", "Hi")]
    config = GenerationConfig(do_sample=True, temperature=1.0, top_p=1.0, top_k=0, max_new_tokens=6,
                              eos_token_id=stop_token_ids(model, tokenizer), pad_token_id=tokenizer.pad_token_id)
    answers, stats = sample_answers(model, tokenizer, prompts, 3, config, batch_size=4)
    assert [len(group) for group in answers] == [3, 3] and stats["answers"] == 6
    assert len(set(answers[0])) > 1, "sampling gives different answers to one prompt"
    with pytest.raises(ValueError, match="do_sample"):
        sample_answers(model, tokenizer, prompts, 3, GenerationConfig(do_sample=False, max_new_tokens=4,
                                                                      eos_token_id=[1]))


def _pairs(n):
    """n preference pairs in TRL's conversational format: the same good and wrong answer to n requests."""
    return Dataset.from_list([{"prompt": [{"role": "user", "content": f"Write function number {i}."}],
                               "chosen": [{"role": "assistant", "content": GOOD}],
                               "rejected": [{"role": "assistant", "content": WRONG}]} for i in range(n)])


def test_dpo_reference_is_the_sft_model_not_the_untouched_base(tiny_sft, cpu_profile):
    from trl import DPOConfig, DPOTrainer

    adapter, untouched, tokenizer = tiny_sft
    pairs = _pairs(4)
    config = DPOConfig(output_dir="/tmp/unused_dpo_test", max_steps=1, per_device_train_batch_size=2, **FP32_CPU)
    model = _load_sft(adapter, cpu_profile, trainable=True)
    trainer = DPOTrainer(model=model, args=config, train_dataset=pairs, processing_class=tokenizer)
    assert set(model.peft_config) == {"default", "ref"}
    gaps = reference_log_probs_check(trainer, {"sft": _load_sft(adapter, cpu_profile, trainable=False).eval(),
                                               "base": untouched})
    assert gaps["sft"] < 1e-5, gaps
    assert gaps["base"] > 1e-2, gaps
    # The other path, given the untouched base and a peft_config: the base silently becomes the reference.
    fresh, _ = load_model_and_tokenizer(TINY_PRESET, cpu_profile, verbose=False)
    wrong = DPOTrainer(model=fresh, args=config, train_dataset=pairs, processing_class=tokenizer,
                       peft_config=LoraConfig(r=4, target_modules="all-linear", task_type="CAUSAL_LM"))
    wrong_gaps = reference_log_probs_check(wrong, {"sft": _load_sft(adapter, cpu_profile, trainable=False).eval(),
                                                   "base": untouched})
    assert wrong_gaps["base"] < 1e-5 and wrong_gaps["sft"] > 1e-2, wrong_gaps


def test_the_sft_loss_adds_the_chosen_answers_nll_to_dpos_loss(tiny_sft, cpu_profile):
    """09's DPO_LOSS ["sigmoid", "sft"]: DPO's loss plus the chosen answers' mean negative log-likelihood per token."""
    import math

    from trl import DPOConfig, DPOTrainer

    from helpers.preference import completion_log_probs

    adapter, _, tokenizer = tiny_sft
    pairs = _pairs(2)
    losses, batch = {}, None
    for loss_type in (["sigmoid"], ["sigmoid", "sft"]):
        config = DPOConfig(output_dir="/tmp/unused_dpo_test", max_steps=1, per_device_train_batch_size=2,
                           loss_type=loss_type, **FP32_CPU)
        model = _load_sft(adapter, cpu_profile, trainable=True)
        trainer = DPOTrainer(model=model, args=config, train_dataset=pairs, processing_class=tokenizer)
        batch = next(iter(trainer.get_train_dataloader()))
        with torch.no_grad():
            losses["+".join(loss_type)] = float(trainer.compute_loss(model, batch))
    # Before any step the model is its reference: every DPO margin is 0 and the sigmoid loss is log 2.
    assert losses["sigmoid"] == pytest.approx(math.log(2), abs=1e-5)
    chosen_rows = batch["input_ids"].shape[0] // 2  # the collator stacks the chosen answers, then the rejected
    sft_model = _load_sft(adapter, cpu_profile, trainable=False).eval()
    summed = completion_log_probs(sft_model, {key: value[:chosen_rows] for key, value in batch.items()
                                              if torch.is_tensor(value)})
    nll = float(-summed.sum() / batch["completion_mask"][:chosen_rows, 1:].sum())
    assert nll > 0.5
    assert losses["sigmoid+sft"] == pytest.approx(math.log(2) + nll, abs=1e-4)


def test_grpo_runs_two_steps_with_the_sandbox_reward_and_logs_it(tiny_sft, cpu_profile):
    from trl import GRPOConfig, GRPOTrainer

    adapter, _, tokenizer = tiny_sft
    dataset = Dataset.from_list([{"prompt": [{"role": "user", "content": f"Write add number {i}."}],
                                  "checks": RECORD["checks"], "entry_point": "add"} for i in range(4)])
    config = GRPOConfig(output_dir="/tmp/unused_grpo_test", num_generations=2, max_completion_length=8, max_steps=2,
                        per_device_train_batch_size=4, learning_rate=1e-4, **FP32_CPU)
    seen = []

    def counting_sandbox_reward(completions, **columns):
        seen.append((len(completions), sorted(columns)))
        return sandbox_reward(completions, **columns)

    trainer = GRPOTrainer(model=_load_sft(adapter, cpu_profile, trainable=True),
                          reward_funcs=[counting_sandbox_reward, style_reward], args=config, train_dataset=dataset,
                          processing_class=tokenizer)
    trainer.train()
    logged = [row for row in trainer.state.log_history if "reward" in row]
    assert len(logged) == 2
    assert all(math.isfinite(row["loss"]) for row in logged)
    assert all("rewards/counting_sandbox_reward/mean" in row and "frac_reward_zero_std" in row for row in logged)
    assert seen and all(n == 4 and {"checks", "entry_point"} <= set(columns) for n, columns in seen)
