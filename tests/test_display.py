"""The masked-token view, tables and loss plots."""

from __future__ import annotations

from helpers.display import (
    mask_counts,
    padded_batch_rows,
    plot_loss_curves,
    render_masked_tokens_html,
    render_masked_tokens_text,
    show_masked_tokens,
)


def _example(tokenizer):
    prompt = tokenizer("Question: 2+2?\nAnswer:")["input_ids"]
    answer = tokenizer(" 4" + tokenizer.eos_token)["input_ids"]
    return {"input_ids": prompt + answer, "labels": [-100] * len(prompt) + answer}, len(prompt), len(answer)


def test_text_view_brackets_ignored_tokens_and_counts(offline_tokenizer):
    example, n_prompt, n_answer = _example(offline_tokenizer)
    text = render_masked_tokens_text(example["input_ids"], example["labels"], offline_tokenizer)
    assert text.startswith("[Question]")
    assert f"{n_answer} trained tokens, {n_prompt} ignored" in text
    assert text.split("\n-- ")[0].endswith(" 4<|im_end|>"), "trained tokens, EOS included, are shown plainly"


def test_html_view_colours_both_kinds(offline_tokenizer):
    example, n_prompt, n_answer = _example(offline_tokenizer)
    html = render_masked_tokens_html(example["input_ids"], example["labels"], offline_tokenizer)
    assert html.count("line-through") == n_prompt
    assert html.count("#d9f7e3") == n_answer
    assert f"<b>{n_answer}</b> trained tokens" in html


def test_show_masked_tokens_prints_in_a_terminal(offline_tokenizer, capsys):
    example, n_prompt, n_answer = _example(offline_tokenizer)
    counts = show_masked_tokens(example, offline_tokenizer)
    assert counts == {"trained": n_answer, "ignored": n_prompt, "total": n_prompt + n_answer}
    assert "trained tokens" in capsys.readouterr().out
    assert mask_counts([-100, 5]) == {"trained": 1, "ignored": 1, "total": 2}


def test_padded_batch_rows_show_the_padding_side(tiny_tokenizer):
    rows_left = padded_batch_rows(tiny_tokenizer, ["a b c d e f", "a"], "left")
    rows_right = padded_batch_rows(tiny_tokenizer, ["a b c d e f", "a"], "right")
    assert rows_left[1]["attention_mask"].startswith("0") and rows_left[1]["attention_mask"].endswith("1")
    assert rows_right[1]["attention_mask"].startswith("1") and rows_right[1]["attention_mask"].endswith("0")
    assert tiny_tokenizer.padding_side == "right"


def test_loss_plot_is_saved(tmp_path):
    path = tmp_path / "loss.png"
    plot_loss_curves({"train": [(1, 2.0), (2, 1.5)], "eval": [(0, 2.2), (2, 1.7)]}, path)
    assert path.exists() and path.stat().st_size > 1000


def test_progress_bars_off_restores_what_was_on_even_after_an_error():
    import pytest
    from datasets.utils import logging as datasets_logging
    from transformers.utils import logging as hf_logging

    from helpers.display import progress_bars_off

    hf_logging.enable_progress_bar()
    datasets_logging.disable_progress_bar()
    try:
        with pytest.raises(RuntimeError), progress_bars_off(hf_logging, datasets_logging):
            assert not hf_logging.is_progress_bar_enabled()
            raise RuntimeError("inside the block")
        assert hf_logging.is_progress_bar_enabled()  # was on: back on
        assert not datasets_logging.is_progress_bar_enabled()  # was off: stays off
    finally:
        datasets_logging.enable_progress_bar()


def test_style_vs_pass_rate_plot_draws_both_with_intervals(tmp_path):
    from helpers.display import plot_style_vs_pass_rate

    path = tmp_path / "style_vs_pass.png"
    figure = plot_style_vs_pass_rate([{"model": "base", "n": 16, "style_passed": 0, "passed": 5},
                                      {"model": "tuned", "n": 16, "style_passed": 15, "passed": 4}], path)
    bars = figure.axes[0].patches
    assert [round(bar.get_height(), 2) for bar in bars] == [0.0, 93.75, 31.25, 25.0]
    assert path.stat().st_size > 0


def test_the_kits_lora_figure_is_drawn_by_code(tmp_path):
    import importlib.util

    from helpers.models import PROJECT_ROOT

    spec = importlib.util.spec_from_file_location("lora_figure", PROJECT_ROOT / "docs" / "lora_figure.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    path = module.draw(tmp_path / "figure.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 20_000
    for page in ("README.md", "workshop.md", "troubleshooting.md", "glossary.md", "migration.md"):
        assert (PROJECT_ROOT / "docs" / page).stat().st_size > 500, page
