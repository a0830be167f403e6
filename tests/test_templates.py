"""What TRL trains on, token by token, for every template on both tokenizer layouts."""

from __future__ import annotations

from dataclasses import replace

import pytest
from datasets import Dataset
from trl import SFTTrainer

from helpers.collators import IGNORE_INDEX
from helpers.data import load_bundled
from helpers.templates import (
    TEMPLATES,
    count_tokens,
    fit_record,
    format_record,
    get_template,
    register_template,
    to_prompt_completion,
)
from helpers.training import make_sft_config

RECORDS = {
    "chatml": {"instruction": "Write a function that doubles a number.", "input": "",
               "output": "```python\ndef double(x: int) -> int:\n    \"\"\"Return x doubled.\"\"\"\n    return 2 * x\n```"},
    "alpaca": {"instruction": "Sort the words alphabetically.", "input": "pear, apple, fig",
               "output": "apple, fig, pear"},
    "inst_summarize": {"article": "The city council approved a new park on Monday. Work starts in May.",
                       "summary": "Council approves new park. Work starts in May."},
    "summarize_target": {"article": "Heavy rain flooded roads in the north on Tuesday.",
                         "summary": "Rain floods northern roads."},
    "chatml_summarize": {"article": "Heavy rain flooded roads in the north on Tuesday.",
                         "summary": "Rain floods northern roads."},
}
PROMPT_ENDINGS = {"alpaca": "### Response:\n", "inst_summarize": "Summary: [/INST]", "summarize_target": "\nTarget:"}


def test_every_template_has_an_example():
    assert set(RECORDS) <= set(TEMPLATES)


@pytest.mark.parametrize("name", sorted(RECORDS))
def test_completion_ends_in_eos_exactly_once(name, tokenizer):
    example = format_record(RECORDS[name], name, tokenizer)
    assert example["completion"].endswith(tokenizer.eos_token)
    assert not example["completion"][: -len(tokenizer.eos_token)].endswith(tokenizer.eos_token)
    assert RECORDS[name].get("output", RECORDS[name].get("summary")) in example["completion"]


def test_alpaca_leaves_out_empty_input(tokenizer):
    with_input = format_record(RECORDS["alpaca"], "alpaca", tokenizer)["prompt"]
    without = format_record({**RECORDS["alpaca"], "input": ""}, "alpaca", tokenizer)["prompt"]
    assert "### Input:\npear, apple, fig" in with_input
    assert "### Input" not in without
    assert without == "### Instruction:\nSort the words alphabetically.\n\n### Response:\n"


def test_chatml_uses_the_tokenizers_chat_template(tokenizer):
    prompt = format_record(RECORDS["chatml"], "chatml", tokenizer)["prompt"]
    assert prompt == tokenizer.apply_chat_template(
        [{"role": "user", "content": RECORDS["chatml"]["instruction"]}], tokenize=False, add_generation_prompt=True
    )
    assert prompt.endswith("<|im_start|>assistant\n")


def _trl_dataset(records, template, tokenizer, tiny_model, tmp_path, max_length=512):
    data = to_prompt_completion(Dataset.from_list(records), template, tokenizer, max_length=max_length, verbose=False)
    config = make_sft_config(
        __import__("helpers.hardware", fromlist=["x"]).detect_hardware(cuda_available=False, verbose=False),
        str(tmp_path), max_steps=1, max_length=max_length, verbose=False,
    )
    return SFTTrainer(model=tiny_model, args=config, train_dataset=data, processing_class=tokenizer)


@pytest.mark.parametrize("name", sorted(RECORDS))
def test_trl_masks_every_prompt_token_and_trains_completion_and_eos(name, tokenizer, tiny_model, tmp_path):
    trainer = _trl_dataset([RECORDS[name]], name, tokenizer, tiny_model, tmp_path)
    row = trainer.train_dataset[0]
    example = format_record(RECORDS[name], name, tokenizer)
    prompt_ids = tokenizer(example["prompt"])["input_ids"]
    full_ids = tokenizer(example["prompt"] + example["completion"])["input_ids"]
    assert row["input_ids"] == full_ids
    assert full_ids[: len(prompt_ids)] == prompt_ids, "the prompt must tokenize the same alone and with its answer"
    labels = row["labels"]
    assert all(label == IGNORE_INDEX for label in labels[: len(prompt_ids)])
    assert labels[len(prompt_ids):] == full_ids[len(prompt_ids):]
    assert labels[-1] == tokenizer.eos_token_id, "the final EOS must be trained so the model learns to stop"


def test_trl_collator_pads_labels_with_ignore_index(tokenizer, tiny_model, tmp_path):
    records = [RECORDS["alpaca"], {**RECORDS["alpaca"], "output": "apple, fig, pear, plum, quince, " * 3}]
    trainer = _trl_dataset(records, "alpaca", tokenizer, tiny_model, tmp_path)
    rows = [trainer.train_dataset[i] for i in range(2)]
    batch = trainer.data_collator([{k: r[k] for k in ("input_ids", "labels")} for r in rows])
    short, long = sorted(range(2), key=lambda i: len(rows[i]["input_ids"]))
    length = len(rows[short]["input_ids"])
    assert batch["input_ids"].shape[1] == len(rows[long]["input_ids"]), "pads to the longest in the batch"
    assert (batch["labels"][short, length:] == IGNORE_INDEX).all()
    assert batch["labels"][short, length - 1].item() == tokenizer.eos_token_id
    assert "attention_mask" in batch or "position_ids" in batch


def test_formatting_func_is_refused_with_completion_only_loss(tokenizer, tiny_model, tmp_path, cpu_profile):
    config = make_sft_config(cpu_profile, str(tmp_path), max_steps=1, verbose=False)
    raw = Dataset.from_list([RECORDS["alpaca"]])

    def as_text(record):
        example = format_record(record, "alpaca", tokenizer)
        return example["prompt"] + example["completion"]

    with pytest.raises(ValueError, match="formatting function"):
        SFTTrainer(model=tiny_model, args=config, train_dataset=raw, formatting_func=as_text, processing_class=tokenizer)


def test_formatting_func_with_trl_default_trains_the_whole_text(tokenizer, tiny_model, tmp_path, cpu_profile):
    config = replace(make_sft_config(cpu_profile, str(tmp_path), max_steps=1, verbose=False), completion_only_loss=None)
    raw = Dataset.from_list([RECORDS["alpaca"]])

    def as_text(record):
        example = format_record(record, "alpaca", tokenizer)
        return example["prompt"] + example["completion"]

    trainer = SFTTrainer(model=tiny_model, args=config, train_dataset=raw, formatting_func=as_text,
                         processing_class=tokenizer)
    labels = trainer.train_dataset[0]["labels"]
    assert IGNORE_INDEX not in labels, "prompt tokens are trained too: this is the pitfall the notebook shows"


LONG_FIELDS = {"chatml": "input", "alpaca": "input", "inst_summarize": "article", "summarize_target": "article",
               "chatml_summarize": "article"}


@pytest.mark.parametrize("name", sorted(RECORDS))
def test_smart_truncation_cuts_only_the_free_text_field(name, tokenizer):
    field = LONG_FIELDS[name]
    long_text = " ".join(f"Sentence number {i} of a very long text about nothing in particular." for i in range(80))
    record = {**RECORDS[name], field: long_text}
    example, status = fit_record(record, name, tokenizer, max_length=128)
    assert status == "truncated"
    assert count_tokens(example, tokenizer) <= 128
    assert count_tokens(example, tokenizer) >= 100, "truncation should keep as much of the field as fits"
    target = RECORDS[name].get("output") or RECORDS[name]["summary"]
    assert target in example["completion"] and example["completion"].endswith(tokenizer.eos_token)
    assert "Sentence number 0 of" in example["prompt"], "the start of the field is kept, its end is cut"
    if name in PROMPT_ENDINGS:
        assert example["prompt"].endswith(PROMPT_ENDINGS[name])
    if name == "inst_summarize":
        assert example["prompt"].startswith("[INST] Summarize the following news article:\n\n")
    if name in ("chatml", "chatml_summarize"):
        assert example["prompt"].endswith("<|im_start|>assistant\n")


@pytest.mark.parametrize("name", sorted(RECORDS))
def test_examples_whose_completion_cannot_fit_are_dropped_and_counted(name, tokenizer, capsys):
    target_field = "output" if "output" in RECORDS[name] else "summary"
    too_long = {**RECORDS[name], target_field: "word " * 300}
    data = Dataset.from_list([RECORDS[name], too_long, RECORDS[name]])
    kept = to_prompt_completion(data, name, tokenizer, max_length=128)
    assert len(kept) == 2
    assert "1 dropped" in capsys.readouterr().out
    assert all("word word" not in completion for completion in kept["completion"])


def test_records_that_fit_are_left_alone(tokenizer):
    example, status = fit_record(RECORDS["inst_summarize"], "inst_summarize", tokenizer, max_length=512)
    assert status == "ok"
    assert example == format_record(RECORDS["inst_summarize"], "inst_summarize", tokenizer)


def test_a_learner_can_register_a_template(tokenizer):
    register_template("qa_test", "Question: {question}\nAnswer:", " {answer}", ("question", "answer"),
                      truncatable_field="question")
    try:
        example = format_record({"question": "2+2?", "answer": "4"}, "qa_test", tokenizer)
        assert example == {"prompt": "Question: 2+2?\nAnswer:", "completion": " 4" + tokenizer.eos_token}
    finally:
        del TEMPLATES["qa_test"]


def test_missing_field_and_unknown_template_errors(tokenizer):
    with pytest.raises(KeyError, match="needs field"):
        format_record({"article": "x"}, "inst_summarize", tokenizer)
    with pytest.raises(KeyError, match="Unknown template"):
        get_template("nope")


def test_python_style_train_split_fits_and_keeps_every_example(offline_tokenizer):
    data = to_prompt_completion(load_bundled("python_style", "train"), "chatml", offline_tokenizer, max_length=384,
                                verbose=False)
    assert len(data) == len(load_bundled("python_style", "train"))


# --- messages data and assistant_only_loss ---------------------------------------------------------------------

CONVERSATION = [
    {"role": "user", "content": "Write a function that doubles a number."},
    {"role": "assistant", "content": "def double(x: int) -> int:\n    return 2 * x"},
    {"role": "user", "content": "And one that halves it?"},
    {"role": "assistant", "content": "def half(x: float) -> float:\n    return x / 2"},
]


@pytest.fixture(params=["smollm2", "qwen2.5"])
def chat_tokenizer(request, offline_tokenizer, tiny_tokenizer):
    """SmolLM2's tokenizer with its own template, and the Qwen2.5-laid-out tokenizer with Qwen2.5's real template."""
    import copy

    from trl.chat_template_utils import qwen2_5_chat_template

    if request.param == "smollm2":
        return copy.deepcopy(offline_tokenizer)
    tokenizer = copy.deepcopy(tiny_tokenizer)
    tokenizer.chat_template = qwen2_5_chat_template  # byte for byte what Qwen2.5-*-Instruct ships
    return tokenizer


@pytest.mark.parametrize("system", [None, "You write Python."])
def test_training_chat_template_renders_the_same_text_as_the_original(chat_tokenizer, system):
    from trl.chat_template_utils import has_generation_markers

    from helpers.templates import training_chat_template

    original = chat_tokenizer.chat_template
    training = training_chat_template(chat_tokenizer)
    assert training != original and has_generation_markers(training)
    messages = ([{"role": "system", "content": system}] if system else []) + CONVERSATION
    for history, generation_prompt in ((messages, False), (messages[:3], True)):
        assert chat_tokenizer.apply_chat_template(history, tokenize=False, add_generation_prompt=generation_prompt,
                                                  chat_template=training) == \
            chat_tokenizer.apply_chat_template(history, tokenize=False, add_generation_prompt=generation_prompt)


def test_assistant_only_loss_trains_exactly_the_assistant_turns_and_their_end_token(chat_tokenizer, tiny_model,
                                                                                       tmp_path, cpu_profile):
    from trl.chat_template_utils import is_chat_template_stop_token_trained

    from helpers.templates import training_chat_template

    chat_tokenizer.chat_template = training_chat_template(chat_tokenizer)
    assert is_chat_template_stop_token_trained(chat_tokenizer)
    config = replace(make_sft_config(cpu_profile, str(tmp_path), max_steps=1, verbose=False),
                     completion_only_loss=None, assistant_only_loss=True)
    trainer = SFTTrainer(model=tiny_model, args=config, train_dataset=Dataset.from_list([{"messages": CONVERSATION}]),
                         processing_class=chat_tokenizer)
    row = trainer.train_dataset[0]
    trained = [token for token, label in zip(row["input_ids"], row["labels"]) if label != IGNORE_INDEX]
    assert all(label in (IGNORE_INDEX, token) for token, label in zip(row["input_ids"], row["labels"]))
    text = chat_tokenizer.decode(trained)
    # Both answers and the <|im_end|> closing each are trained; no system, user or header token is.
    for turn in (CONVERSATION[1], CONVERSATION[3]):
        assert turn["content"] + "<|im_end|>" in text
    assert text.replace("\n", "") == "".join(t["content"].replace("\n", "") + "<|im_end|>" for t in CONVERSATION[1::2])
    assert trained.count(chat_tokenizer.convert_tokens_to_ids("<|im_end|>")) == 2
    assert "user" not in text and "system" not in text and "double a number" not in text


def test_an_unknown_chat_template_gets_a_clear_error(offline_tokenizer):
    import copy

    from helpers.templates import training_chat_template

    tokenizer = copy.deepcopy(offline_tokenizer)
    tokenizer.chat_template = "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
    with pytest.raises(ValueError, match="generation"):
        training_chat_template(tokenizer)


def test_to_messages_builds_alternating_turns():
    from helpers.templates import to_messages

    records = [{"instruction": "Double it.", "input": "", "output": "2x"},
               {"instruction": "Halve it.", "input": "4", "output": "2"}]
    messages = to_messages(records, system="Be brief.")["messages"]
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user", "assistant"]
    assert messages[3]["content"] == "Halve it.\n\n4" and messages[4]["content"] == "2"
