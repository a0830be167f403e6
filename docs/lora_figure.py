"""Draw the LoRA / QLoRA figure of the instructor's kit: `python docs/lora_figure.py [out.png]`.

Left: LoRA. The pretrained weight W (out x in) is frozen; beside it, A (r x in) and B (out x r) train,
and the layer returns W x + (alpha / r) B A x. Right: QLoRA. The same, with W stored in 4-bit NF4 and
unpacked to the compute dtype for each matmul; A and B stay in 16 or 32 bits.
"""

from __future__ import annotations

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import FancyArrowPatch, Rectangle  # noqa: E402

FROZEN, TRAINED, QUANTIZED = "#c9d3e0", "#f6b26b", "#9fb6cf"


def _box(ax, x, y, w, h, color, label, hatch=None):
    ax.add_patch(Rectangle((x, y), w, h, facecolor=color, edgecolor="black", linewidth=1.2, hatch=hatch))
    ax.text(x + w / 2, y + h / 2, label, ha="center", va="center", fontsize=10,
            bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.85} if hatch else None)


def _arrow(ax, start, end):
    ax.add_patch(FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=12, linewidth=1.2, color="black"))


def _panel(ax, title: str, quantized: bool) -> None:
    ax.set_xlim(0, 10)
    ax.set_ylim(0, 10)
    ax.axis("off")
    ax.set_title(title, fontsize=12, fontweight="bold")
    ax.text(5, 0.4, "input x  (d_in)", ha="center", fontsize=10)
    ax.text(5, 9.6, "output  h = W x + (alpha / r) B A x", ha="center", fontsize=10)
    # The frozen weight: a big square.
    w_label = "W  (d_out x d_in)\nfrozen\n4-bit NF4, unpacked\nto fp16/bf16 per matmul" if quantized else \
        "W  (d_out x d_in)\nfrozen\nfp16 / bf16 / fp32"
    _box(ax, 0.8, 2.2, 4.2, 5.6, QUANTIZED if quantized else FROZEN, w_label, hatch="//" if quantized else None)
    # The adapter: A narrows to r, B widens back.
    _box(ax, 6.0, 2.2, 3.2, 1.4, TRAINED, "A  (r x d_in)\ntrained")
    _box(ax, 6.0, 6.4, 3.2, 1.4, TRAINED, "B  (d_out x r)\ntrained, starts at 0")
    ax.text(7.6, 5.0, "rank r\n(4-64)\nscaled by\nalpha / r", ha="center", va="center", fontsize=9)
    _arrow(ax, (5, 1.0), (2.9, 2.2))
    _arrow(ax, (5, 1.0), (7.6, 2.2))
    _arrow(ax, (7.6, 3.6), (7.6, 4.2))
    _arrow(ax, (7.6, 5.8), (7.6, 6.4))
    _arrow(ax, (2.9, 7.8), (5, 9.3))
    _arrow(ax, (7.6, 7.8), (5, 9.3))
    note = ("adapters in fp32 on a T4 (fp16 compute);\nmemory: ~0.5 byte per frozen weight" if quantized
            else "trainable: r x (d_in + d_out) per layer;\nmerge: W + (alpha / r) B A")
    ax.text(5, -0.6, note, ha="center", va="top", fontsize=9, style="italic")


def draw(path: str | Path) -> Path:
    """Draw both panels into one PNG and return its path."""
    path = Path(path)
    figure, axes = plt.subplots(1, 2, figsize=(12, 6.2))
    _panel(axes[0], "LoRA", quantized=False)
    _panel(axes[1], "QLoRA", quantized=True)
    figure.tight_layout()
    figure.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(figure)
    return path


if __name__ == "__main__":
    print(draw(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).with_name("lora_qlora.png")))
