"""What a learner looks at: the masked-token view, side-by-side tables, loss curves, results tables."""

from __future__ import annotations

import html
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from helpers.collators import IGNORE_INDEX


@contextmanager
def progress_bars_off(*libraries) -> Iterator[None]:
    """Silence the progress bars of these libraries' logging modules (transformers', datasets') for a block.

    Each module has is_progress_bar_enabled / disable_progress_bar / enable_progress_bar; bars that
    were on come back on afterwards, also when the block raises.
    """
    were_on = [library for library in libraries if library.is_progress_bar_enabled()]
    for library in were_on:
        library.disable_progress_bar()
    try:
        yield
    finally:
        for library in were_on:
            library.enable_progress_bar()


def in_notebook() -> bool:
    """True inside Jupyter (an IPython kernel), where HTML can be shown."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and shell.__class__.__name__ == "ZMQInteractiveShell"


def mask_counts(labels: list[int]) -> dict[str, int]:
    """How many tokens of one example are trained and how many ignored (-100)."""
    ignored = sum(1 for label in labels if label == IGNORE_INDEX)
    return {"trained": len(labels) - ignored, "ignored": ignored, "total": len(labels)}


def render_masked_tokens_text(input_ids: list[int], labels: list[int], tokenizer) -> str:
    """Plain-text view: ignored tokens in [brackets], trained tokens as they are, then the counts."""
    pieces = []
    for token_id, label in zip(input_ids, labels):
        text = tokenizer.decode([token_id])
        pieces.append(f"[{text}]" if label == IGNORE_INDEX else text)
    counts = mask_counts(labels)
    return "".join(pieces) + (
        f"\n-- {counts['trained']} trained tokens, {counts['ignored']} ignored (shown in [brackets]) "
        f"of {counts['total']}"
    )


def render_masked_tokens_html(input_ids: list[int], labels: list[int], tokenizer) -> str:
    """HTML view: ignored tokens grey and struck through, trained tokens green, then the counts."""
    spans = []
    for token_id, label in zip(input_ids, labels):
        text = html.escape(tokenizer.decode([token_id])).replace("\n", "\u21b5<br>")
        if label == IGNORE_INDEX:
            style = "color:#888;background:#f2f2f2;text-decoration:line-through"
        else:
            style = "color:#064;background:#d9f7e3;font-weight:bold"
        spans.append(f'<span style="{style};border:1px solid #ddd;margin:1px;padding:0 1px">{text}</span>')
    counts = mask_counts(labels)
    legend = (
        f"<p><b>{counts['trained']}</b> trained tokens (green), <b>{counts['ignored']}</b> ignored, label -100 "
        f"(grey), of {counts['total']}.</p>"
    )
    return f'<div style="font-family:monospace;line-height:1.9">{"".join(spans)}</div>{legend}'


def show_masked_tokens(example: dict, tokenizer) -> dict[str, int]:
    """Show one tokenized example (input_ids + labels) with trained and ignored tokens apart; returns counts."""
    input_ids, labels = list(example["input_ids"]), list(example["labels"])
    if in_notebook():
        from IPython.display import HTML, display

        display(HTML(render_masked_tokens_html(input_ids, labels, tokenizer)))
    else:
        print(render_masked_tokens_text(input_ids, labels, tokenizer))
    return mask_counts(labels)


def show_table(rows: list[dict], columns: list[str] | None = None, max_chars: int = 400) -> None:
    """A table of rows (dicts): HTML with line breaks kept in a notebook, aligned text elsewhere."""
    if not rows:
        print("(no rows)")
        return
    columns = columns or list(rows[0])

    def cell(value) -> str:
        text = f"{value:.3f}" if isinstance(value, float) else str(value)
        return text if len(text) <= max_chars else text[: max_chars - 3] + "..."

    if in_notebook():
        from IPython.display import HTML, display

        head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
        body = "".join(
            "<tr>" + "".join(
                f'<td style="text-align:left;vertical-align:top"><pre style="white-space:pre-wrap;margin:0">'
                f"{html.escape(cell(row.get(c, '')))}</pre></td>" for c in columns
            ) + "</tr>"
            for row in rows
        )
        display(HTML(f"<table><tr>{head}</tr>{body}</table>"))
        return
    for number, row in enumerate(rows, start=1):
        print(f"--- {number}")
        for column in columns:
            print(f"{column}: {cell(row.get(column, ''))}")


def plot_loss_curves(history: dict, path: str | Path | None = None, title: str = "Loss"):
    """Training and validation loss against steps; saved to `path` when given. Returns the figure."""
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(7, 4))
    for label, key, style in (("training", "train", "-"), ("validation", "eval", "o-")):
        points = history.get(key) or []
        if points:
            steps, losses = zip(*points)
            axis.plot(steps, losses, style, label=f"{label} loss")
    axis.set_xlabel("step")
    axis.set_ylabel("loss (completion tokens)")
    axis.set_title(title)
    axis.grid(alpha=0.3)
    axis.legend()
    figure.tight_layout()
    if path:
        figure.savefig(path, dpi=110)
    return figure


def plot_logged_metrics(log_history: list[dict], panels: dict[str, list[str]], path: str | Path | None = None,
                        title: str = ""):
    """One panel per entry of `panels` (panel title -> logged keys), each key against the step it was logged at.

    log_history: a Trainer's `trainer.state.log_history` (DPO logs rewards/chosen, rewards/rejected, ...; GRPO
    logs reward, frac_reward_zero_std, ...). A key never logged is left out, and a panel with none is not drawn.
    """
    import matplotlib.pyplot as plt

    drawn = {name: [key for key in keys if any(key in row for row in log_history)] for name, keys in panels.items()}
    drawn = {name: keys for name, keys in drawn.items() if keys}
    if not drawn:
        raise ValueError(f"none of {sorted({k for keys in panels.values() for k in keys})} was logged; logged keys: "
                         f"{sorted({k for row in log_history for k in row})}")
    figure, axes = plt.subplots(1, len(drawn), figsize=(4.2 * len(drawn), 3.4), squeeze=False)
    for axis, (name, keys) in zip(axes[0], drawn.items()):
        for key in keys:
            points = [(row["step"], row[key]) for row in log_history if key in row and "step" in row]
            axis.plot(*zip(*points), "o-", markersize=3, label=key)
        axis.set_title(name)
        axis.set_xlabel("step")
        axis.grid(alpha=0.3)
        axis.legend(fontsize=7)
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    if path:
        figure.savefig(path, dpi=110)
    return figure


def plot_style_vs_pass_rate(rows: list[dict], path: str | Path | None = None, title: str = "Style vs correctness"):
    """Bars of style adherence and pass rate per model, with 95% Wilson intervals as error bars.

    Each row: {"model": name, "n": requests, "style_passed": answers in house style, "passed": answers that work}.
    """
    import matplotlib.pyplot as plt

    from helpers.correctness import wilson_interval

    figure, axis = plt.subplots(figsize=(7, 4))
    width = 0.38
    for offset, (key, label) in zip((-width / 2, width / 2), (("style_passed", "style adherence"),
                                                              ("passed", "pass rate (checks)"))):
        shares, errors = [], [[], []]
        for row in rows:
            share = row[key] / row["n"]
            low, high = wilson_interval(row[key], row["n"])
            shares.append(100 * share)
            errors[0].append(100 * (share - low))
            errors[1].append(100 * (high - share))
        positions = [index + offset for index in range(len(rows))]
        bars = axis.bar(positions, shares, width, yerr=errors, capsize=4, label=label)
        for bar, row in zip(bars, rows):
            axis.annotate(f"{row[key]}/{row['n']}", (bar.get_x() + bar.get_width() / 2, 2), ha="center", fontsize=8)
    axis.set_xticks(range(len(rows)), [row["model"] for row in rows])
    axis.set_ylim(0, 105)
    axis.set_ylabel("% of held-out requests (95% Wilson interval)")
    axis.set_title(title)
    axis.legend(loc="upper left")
    figure.tight_layout()
    if path:
        figure.savefig(path, dpi=110)
    return figure


def token_rows(tokenizer, text: str) -> list[dict]:
    """One row per token of text: position, id and the text piece it stands for."""
    ids = tokenizer(text)["input_ids"]
    return [{"position": i, "id": token_id, "piece": repr(tokenizer.decode([token_id]))} for i, token_id in enumerate(ids)]


def padded_batch_rows(tokenizer, prompts: list[str], padding_side: str = "left") -> list[dict]:
    """Rows showing a padded batch: each sequence's tokens (PAD marked) and its attention mask."""
    saved = tokenizer.padding_side
    tokenizer.padding_side = padding_side
    try:
        batch = tokenizer(prompts, padding=True)
    finally:
        tokenizer.padding_side = saved
    rows = []
    for number, (ids, mask) in enumerate(zip(batch["input_ids"], batch["attention_mask"])):
        pieces = [tokenizer.decode([t]) if m else "PAD" for t, m in zip(ids, mask)]
        rows.append({
            "sequence": number,
            "last 12 tokens": " | ".join(repr(p) if p != "PAD" else p for p in pieces[-12:]),
            "first 12 tokens": " | ".join(repr(p) if p != "PAD" else p for p in pieces[:12]),
            "attention_mask": "".join(str(m) for m in mask),
            "real tokens": sum(mask),
        })
    return rows
