"""Learning from verdicts: sample a model's own answers, let the sandbox judge them, train on the verdicts.

Supervised fine-tuning imitates the answers it is shown and never sees its own mistakes. Here the SFT model
answers each training request K times with sampling; the sandbox (helpers.sandbox) runs every answer against
the request's checks and the style checker (helpers.metrics) scores it. Those verdicts become

- **preference pairs** for DPO (`preference_pairs`): chosen = an answer that passes its checks and follows
  the style, rejected = one that fails its checks; requests whose answers all pass or all fail give no pair,
  and two passing answers are never paired;
- **rewards** for GRPO (`sandbox_reward`, `style_reward`): functions with the signature TRL's `GRPOTrainer`
  calls, `reward(completions, **dataset_columns) -> list[float]`.

`reference_log_probs_check` shows which model DPO measures its answers against (the reference): it must be
the SFT model, not the untouched base.
"""

from __future__ import annotations

import copy
import time
from collections import Counter
from dataclasses import dataclass, field

import torch

from helpers.correctness import pass_rate
from helpers.inference import generate_batch, id_list, left_padded_eval
from helpers.metrics import check_python_style, extract_code
from helpers.sandbox import run_answers


def sample_answers(model, tokenizer, prompts: list[str], k: int, generation_config, *, batch_size: int = 8,
                   seed: int = 0) -> tuple[list[list[str]], dict]:
    """k sampled answers to each prompt (num_return_sequences=k), in left-padded batches of prompts.

    generation_config: a `transformers.GenerationConfig` with do_sample=True and every EOS id (the caller
    writes it out: temperature, top_p and the stop ids are the lesson). Returns the answers, one list of k per
    prompt, and counts: seconds, new tokens, tokens/s, and how many answers ended at a stop id.
    """
    if not generation_config.do_sample:
        raise ValueError("sample_answers needs a sampling GenerationConfig (do_sample=True): greedy decoding "
                         "gives the same answer k times, and identical answers teach nothing")
    if not id_list(generation_config.eos_token_id):
        raise ValueError("the GenerationConfig names no eos_token_id: answers would run to max_new_tokens")
    generation_config = copy.deepcopy(generation_config)
    generation_config.num_return_sequences = k  # in the config: generate() warns when it is passed beside one
    torch.manual_seed(seed)
    answers: list[list[str]] = []
    new_tokens = stopped_count = 0
    started = time.perf_counter()
    per_batch = max(1, batch_size // k)
    with left_padded_eval(model, tokenizer):
        for start in range(0, len(prompts), per_batch):
            generated = generate_batch(model, tokenizer, prompts[start:start + per_batch], generation_config)
            new_tokens += sum(count for _, _, count in generated)
            stopped_count += sum(stopped for _, stopped, _ in generated)
            answers.extend([answer for answer, _, _ in generated[i:i + k]] for i in range(0, len(generated), k))
    seconds = time.perf_counter() - started
    return answers, {"seconds": round(seconds, 1), "answers": len(prompts) * k, "new_tokens": new_tokens,
                     "tokens_per_second": round(new_tokens / seconds, 1) if seconds else 0.0,
                     "stopped": stopped_count}


@dataclass
class Verdict:
    """One sampled answer and what the sandbox and the style checker said of it."""

    answer: str
    outcome: str  # pass, fail, error or timeout (helpers.sandbox)
    styled: bool

    @property
    def passed(self) -> bool:
        return self.outcome == "pass"


@dataclass
class RequestVerdicts:
    """The K verdicts of one request."""

    record: dict
    verdicts: list[Verdict] = field(default_factory=list)

    @property
    def passed(self) -> int:
        return sum(v.passed for v in self.verdicts)

    @property
    def mixed(self) -> bool:
        """Some answers pass and some fail: only such a request can teach which is which."""
        return 0 < self.passed < len(self.verdicts)


def judge(records: list[dict], samples: list[list[str]], *, workers: int = 4, timeout: float = 5.0) -> list[RequestVerdicts]:
    """Run every sampled answer against its record's checks in the sandbox and check its style."""
    if len(records) != len(samples):
        raise ValueError(f"{len(samples)} groups of answers for {len(records)} records")
    flat = [(record, answer) for record, answers in zip(records, samples) for answer in answers]
    outcomes = iter(pass_rate([answer for _, answer in flat], [record for record, _ in flat], workers=workers,
                              timeout=timeout)["outcomes"])
    return [RequestVerdicts(record, [Verdict(answer, next(outcomes), check_python_style(answer).adherent)
                                     for answer in answers])
            for record, answers in zip(records, samples)]


def verdict_summary(groups: list[RequestVerdicts]) -> dict:
    """How many of K pass per request, and the share of requests whose answers disagree."""
    k = len(groups[0].verdicts) if groups else 0
    histogram = Counter(group.passed for group in groups)
    answers = sum(len(group.verdicts) for group in groups)
    return {
        "requests": len(groups), "k": k, "answers": answers,
        "passing_answers": sum(group.passed for group in groups),
        "styled_answers": sum(v.styled for group in groups for v in group.verdicts),
        "passes_of_k": {passes: histogram.get(passes, 0) for passes in range(k + 1)},
        "mixed_requests": sum(group.mixed for group in groups),
        "mixed_share": sum(group.mixed for group in groups) / len(groups) if groups else 0.0,
    }


def preference_pairs(groups: list[RequestVerdicts], *, max_pairs_per_request: int = 2) -> list[dict]:
    """DPO pairs in TRL's conversational preference format: {"prompt", "chosen", "rejected"} as messages.

    chosen: an answer that passes its checks *and* follows the style; rejected: one that fails its checks
    (fail, error or timeout). Identical answers count once. A request whose answers all pass or all fail
    gives no pair; two passing answers are never paired. Up to max_pairs_per_request pairs per request, each
    answer used at most once.
    """
    pairs = []
    for group in groups:
        chosen = list(dict.fromkeys(v.answer for v in group.verdicts if v.passed and v.styled))
        rejected = list(dict.fromkeys(v.answer for v in group.verdicts if not v.passed))
        prompt = [{"role": "user", "content": group.record["instruction"]}]
        for good, bad in list(zip(chosen, rejected))[:max_pairs_per_request]:
            pairs.append({"prompt": prompt, "chosen": [{"role": "assistant", "content": good}],
                          "rejected": [{"role": "assistant", "content": bad}],
                          "family": group.record.get("family", "")})
    return pairs


def _text(completion) -> str:
    """A completion as GRPOTrainer passes it: a string, or a conversational list of messages."""
    if isinstance(completion, str):
        return completion
    return "".join(message.get("content", "") for message in completion if message.get("role") == "assistant")


def sandbox_reward(completions: list, checks: list[list[str]], entry_point: list[str | None], **_) -> list[float]:
    """GRPO reward: 1.0 when the completion's code passes every check of its request in the sandbox, else 0.0.

    A completion that fails, raises, times out or tries something the sandbox refuses (a socket, a file
    write, a subprocess) gets 0.0, and what it tried does not happen. `checks` and `entry_point` are the
    training dataset's columns, which GRPOTrainer passes to every reward function by name.
    """
    jobs = [(extract_code(_text(c))[0], list(checks_i), name) for c, checks_i, name in zip(completions, checks, entry_point)]
    return [1.0 if result.passed else 0.0 for result in run_answers(jobs)]


def style_reward(completions: list, **_) -> list[float]:
    """GRPO reward: 1.0 when the completion follows the house style (helpers.metrics.check_python_style)."""
    return [1.0 if check_python_style(_text(c)).adherent else 0.0 for c in completions]


def completion_log_probs(model, batch: dict) -> torch.Tensor:
    """Each sequence's summed log-probability of its completion tokens, from the model's plain logits.

    batch: a DPO batch as DPOTrainer's collator builds it (`input_ids`, `attention_mask`, `completion_mask`).
    Computed independently of TRL (no fused head, fp32 log-softmax), to check the trainer's reference.
    """
    with torch.no_grad():
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], use_cache=False).logits
    log_probs = torch.log_softmax(logits[:, :-1].float(), dim=-1)
    targets = batch["input_ids"][:, 1:]
    token_log_probs = log_probs.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    return (token_log_probs * batch["completion_mask"][:, 1:]).sum(dim=1)


def reference_log_probs_check(trainer, models: dict) -> dict[str, float]:
    """Largest |difference| per completion token between DPOTrainer's reference log-probabilities and each model's.

    On one batch of the trainer's own data: the reference's summed log-probability of each chosen and rejected
    answer, against each named model's ({"SFT model": ..., "untouched base": ...}, each loaded separately),
    divided by the answer's length in tokens (a sum over 50 tokens carries 50 roundings). The reference must
    match the SFT model (float rounding, about 1e-6 in fp32) and differ from the base.
    """
    batch = next(iter(trainer.get_train_dataloader()))
    ref_chosen, ref_rejected = trainer.compute_ref_log_probs(trainer.model, batch)
    reference = torch.cat([ref_chosen, ref_rejected]).float().cpu()
    tokens = batch["completion_mask"][:, 1:].sum(dim=1).clamp(min=1).float().cpu()
    differences = {}
    for name, model in models.items():
        device_batch = {key: value.to(model.device) for key, value in batch.items() if torch.is_tensor(value)}
        ours = completion_log_probs(model, device_batch).cpu()
        differences[name] = float(((reference - ours).abs() / tokens).max())
    return differences


def fit_trainer_to_machine(trainer, profile) -> None:
    """What build_sft_trainer does for SFT, for a DPO or GRPO trainer built in a notebook cell.

    On a T4 (fp16) TRL has cast a 4-bit model's trainable LoRA weights to bf16: they go back to fp32, as in 02.
    With disable_tqdm, transformers' PrinterCallback would print every raw log dict: it is removed.
    """
    from transformers import PrinterCallback

    from helpers.hardware import keep_trainable_params_fp32

    if trainer.args.disable_tqdm:
        trainer.remove_callback(PrinterCallback)
    if profile.keep_trainable_fp32 and getattr(trainer.model, "is_loaded_in_4bit", False):
        cast = keep_trainable_params_fp32(trainer.model)
        if cast:
            print(f"Kept {cast} trainable tensors in fp32 (TRL had cast them to bf16 for the 4-bit model).")
