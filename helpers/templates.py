"""Prompt templates: formatting functions that turn a record into {"prompt", "completion"}.

SFTTrainer masks the prompt of prompt/completion data (completion-only loss) and trains on
the completion, which ends in the tokenizer's EOS so the model learns to stop.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from datasets import Dataset
from datasets.fingerprint import Hasher


@dataclass(frozen=True)
class PromptTemplate:
    """How one kind of record becomes a prompt and a completion."""

    name: str
    required_fields: tuple[str, ...]
    prompt: str | Callable  # a str.format pattern over the record, or f(record, tokenizer) -> str
    completion: str  # a str.format pattern; EOS is appended by format_record
    truncatable_field: str | None  # the only field cut when the example is too long
    description: str = ""

    def render_prompt(self, record: dict, tokenizer) -> str:
        if callable(self.prompt):
            return self.prompt(record, tokenizer)
        return self.prompt.format(**record)


TEMPLATES: dict[str, PromptTemplate] = {}


def register_template(
    name: str,
    prompt: str | Callable,
    completion: str,
    required_fields: tuple[str, ...],
    truncatable_field: str | None = None,
    description: str = "",
) -> PromptTemplate:
    """Add a template under `name` (a learner's own one too) and return it."""
    template = PromptTemplate(name, tuple(required_fields), prompt, completion, truncatable_field, description)
    TEMPLATES[name] = template
    return template


def get_template(name: str | PromptTemplate) -> PromptTemplate:
    """Look a template up by name; a PromptTemplate passes through."""
    if isinstance(name, PromptTemplate):
        return name
    if name not in TEMPLATES:
        raise KeyError(f"Unknown template '{name}'. Known: {', '.join(sorted(TEMPLATES))}.")
    return TEMPLATES[name]


def _user_message(record: dict) -> str:
    extra = record.get("input") or ""
    return f"{record['instruction']}\n\n{extra}" if extra else record["instruction"]


def _chatml_prompt(record: dict, tokenizer) -> str:
    messages = []
    if record.get("system"):
        messages.append({"role": "system", "content": record["system"]})
    messages.append({"role": "user", "content": _user_message(record)})
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)


def _alpaca_prompt(record: dict, tokenizer) -> str:
    text = f"### Instruction:\n{record['instruction']}\n\n"
    if record.get("input"):
        text += f"### Input:\n{record['input']}\n\n"
    return text + "### Response:\n"


register_template(
    "chatml",
    _chatml_prompt,
    "{output}",
    ("instruction", "output"),
    truncatable_field="input",
    description="the tokenizer's own chat template (system/user/assistant) for instruct models",
)
register_template(
    "alpaca",
    _alpaca_prompt,
    "{output}",
    ("instruction", "output"),
    truncatable_field="input",
    description="### Instruction / ### Input / ### Response (Input left out when empty)",
)
register_template(
    "inst_summarize",
    "[INST] Summarize the following news article:\n\n{article}\n\nSummary: [/INST]",
    " {summary}",
    ("article", "summary"),
    truncatable_field="article",
    description="[INST] ... Summary: [/INST] for article/summary records",
)
def _chatml_summarize_prompt(record: dict, tokenizer) -> str:
    request = f"Summarize the following news article in 3 or 4 short sentences.\n\n{record['article']}"
    return tokenizer.apply_chat_template([{"role": "user", "content": request}], tokenize=False,
                                         add_generation_prompt=True)


register_template(
    "chatml_summarize",
    _chatml_summarize_prompt,
    "{summary}",
    ("article", "summary"),
    truncatable_field="article",
    description="the tokenizer's chat template asking for a 3-4 sentence summary (a fair baseline for instruct models)",
)
register_template(
    "summarize_target",
    "Summarize: {article}\nTarget:",
    " {summary}",
    ("article", "summary"),
    truncatable_field="article",
    description="Summarize: ... Target: for article/summary records",
)


def _chat_request(request: str, tokenizer) -> str:
    return tokenizer.apply_chat_template([{"role": "user", "content": request}], tokenize=False,
                                         add_generation_prompt=True)


register_template(
    "sentiment",
    lambda record, tokenizer: _chat_request(
        "Is the sentiment of this movie review positive or negative? Answer with one word.\n\n"
        f"Review: {record['sentence']}", tokenizer),
    "{label}",
    ("sentence", "label"),
    description="chat template asking for one word, positive or negative (sentence/label records)",
)
register_template(
    "extractive_qa",
    lambda record, tokenizer: _chat_request(
        "Answer the question with a short phrase copied from the passage.\n\n"
        f"Passage: {record['context']}\n\nQuestion: {record['question']}", tokenizer),
    "{answer}",
    ("context", "question", "answer"),
    truncatable_field="context",
    description="chat template asking for a span copied from the passage (context/question/answer records)",
)


def format_record(record: dict, template: str | PromptTemplate, tokenizer) -> dict[str, str]:
    """The formatting function: one record -> {"prompt": ..., "completion": ... + EOS}."""
    template = get_template(template)
    missing = [field for field in template.required_fields if field not in record]
    if missing:
        raise KeyError(f"Template '{template.name}' needs field(s) {missing}; the record has {sorted(record)}.")
    completion = template.completion.format(**record)
    if not completion.endswith(tokenizer.eos_token):
        completion += tokenizer.eos_token
    return {"prompt": template.render_prompt(record, tokenizer), "completion": completion}


def count_tokens(example: dict[str, str], tokenizer) -> int:
    """Tokens in prompt + completion, tokenized as SFTTrainer does."""
    return len(tokenizer(example["prompt"] + example["completion"])["input_ids"])


def fit_record(
    record: dict, template: str | PromptTemplate, tokenizer, max_length: int | None
) -> tuple[dict[str, str] | None, str]:
    """Format a record to fit max_length, cutting only the template's truncatable field from its end.

    Returns (example, status) with status "ok", "truncated", or "dropped" (example None) when even
    an empty truncatable field leaves prompt + completion too long: the completion is never cut.
    """
    template = get_template(template)
    example = format_record(record, template, tokenizer)
    if max_length is None:
        return example, "ok"
    length = count_tokens(example, tokenizer)
    if length <= max_length:
        return example, "ok"
    field = template.truncatable_field
    if not field or not record.get(field):
        return None, "dropped"
    field_ids = tokenizer(record[field], add_special_tokens=False)["input_ids"]
    keep = len(field_ids) - (length - max_length)
    while keep > 0:
        shortened = {**record, field: tokenizer.decode(field_ids[:keep]).rstrip()}
        example = format_record(shortened, template, tokenizer)
        length = count_tokens(example, tokenizer)
        if length <= max_length:
            return example, "truncated"
        keep -= max(1, length - max_length)  # re-tokenizing the cut text can merge differently
    return None, "dropped"


def to_prompt_completion(
    dataset: Dataset,
    template: str | PromptTemplate,
    tokenizer,
    max_length: int | None = None,
    verbose: bool = True,
) -> Dataset:
    """Map a data set of records to prompt/completion columns (Dataset.map), fitting max_length.

    Over-long examples have their truncatable field cut; those that cannot fit are dropped and counted.
    """
    template = get_template(template)

    def _fit(record: dict) -> dict:
        example, status = fit_record(record, template, tokenizer, max_length)
        example = example or {"prompt": "", "completion": ""}
        return {**example, "fit_status": status}

    # datasets fingerprints a map by pickling its function, tokenizer included: about 2 s per call for a
    # 49k-token vocabulary. A fingerprint from what the result depends on is as exact and instant.
    fingerprint = Hasher.hash((dataset._fingerprint, template.name, tokenizer.name_or_path, len(tokenizer),
                               tokenizer.eos_token, max_length))
    mapped = dataset.map(_fit, remove_columns=dataset.column_names, desc=f"Formatting with '{template.name}'",
                         new_fingerprint=fingerprint)
    statuses = mapped["fit_status"]
    kept = mapped.filter(lambda row: row["fit_status"] != "dropped").remove_columns("fit_status")
    if verbose:
        print(
            f"Template '{template.name}': {len(kept)} examples kept, "
            f"{statuses.count('truncated')} truncated to fit {max_length} tokens, "
            f"{statuses.count('dropped')} dropped (completion alone too long)."
        )
    return kept


# --- Conversational data: `messages` and assistant_only_loss -------------------------------------------------
# SFTTrainer(assistant_only_loss=True) trains only the assistant turns of `messages` data. It finds them through
# `{% generation %}` ... `{% endgeneration %}` markers in the chat template, which most models' templates lack.
# TRL ships marked "training" variants of the templates it knows (Qwen2.5's among them) and swaps them in itself;
# SmolLM2's template is not among them, so the course keeps a marked copy of it here.

SMOLLM2_CHAT_TEMPLATE = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}"
    "{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
# The same text, with each assistant message and its end-of-turn token (<|im_end|>) inside generation markers:
# that token is how the model learns to stop, so it must be trained.
SMOLLM2_TRAINING_CHAT_TEMPLATE = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}"
    "{% endif %}{% if message['role'] == 'assistant' %}{{ '<|im_start|>assistant\n' }}"
    "{% generation %}{{ message['content'] + '<|im_end|>' }}{% endgeneration %}{{ '\n' }}"
    "{% else %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endif %}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


def training_chat_template(tokenizer) -> str:
    """The tokenizer's chat template with `{% generation %}` markers, as `assistant_only_loss=True` needs.

    It renders the same text as the tokenizer's own template: TRL's training variant for the templates TRL
    knows (Qwen2.5, Llama 3, Gemma, Phi-3, ...), the course's for SmolLM2; an unknown template is a clear error.
    """
    from trl.chat_template_utils import get_training_chat_template, has_generation_markers

    template = tokenizer.chat_template
    if not template:
        raise ValueError(f"{tokenizer.name_or_path} has no chat template: conversational data needs one.")
    if has_generation_markers(template):
        return template
    if template == SMOLLM2_CHAT_TEMPLATE:
        return SMOLLM2_TRAINING_CHAT_TEMPLATE
    try:
        patched = get_training_chat_template(tokenizer)
    except ValueError as error:
        raise ValueError(
            f"Neither TRL nor the course has a training variant of {tokenizer.name_or_path}'s chat template. "
            "Copy the template and put each assistant message, with its end-of-turn token, between "
            "{% generation %} and {% endgeneration %}; or train on prompt/completion data instead."
        ) from error
    return patched or template


def to_messages(records: list[dict], system: str | None = None) -> dict[str, list[dict]]:
    """One conversation from instruction/output records: a user turn and an assistant turn per record."""
    messages = [{"role": "system", "content": system}] if system else []
    for record in records:
        messages.append({"role": "user", "content": _user_message(record)})
        messages.append({"role": "assistant", "content": record["output"]})
    return {"messages": messages}
