"""How much GPU memory a fine-tuning run needs, estimated from a model config: weights, adapters, optimizer, activations.

Every figure here is an ESTIMATE from counting (no GPU measured it): use it to choose a setup, then read the
real peak from `make gpu-check` or the trainer. The counts of parameters are exact for Llama/Qwen2-style
decoders (tested against the real models); the activation term is a rule of thumb.
"""

from __future__ import annotations

from dataclasses import dataclass

GB = 2**30
# Qwen/Qwen2.5-0.5B-Instruct's config.json (the fields that set shapes), as published: 494,032,768 parameters.
QWEN25_05B_SHAPE = dict(
    vocab_size=151936, hidden_size=896, intermediate_size=4864, num_hidden_layers=24,
    num_attention_heads=14, num_key_value_heads=2, max_position_embeddings=32768,
    rope_theta=1000000.0, rms_norm_eps=1e-6, tie_word_embeddings=True,
)
# Qwen/Qwen2.5-7B-Instruct's config.json, the same fields: 7,615,616,512 parameters.
QWEN25_7B_SHAPE = dict(
    vocab_size=152064, hidden_size=3584, intermediate_size=18944, num_hidden_layers=28,
    num_attention_heads=28, num_key_value_heads=4, max_position_embeddings=32768,
    rope_theta=1000000.0, rms_norm_eps=1e-6, tie_word_embeddings=False,
)
LINEAR_NAMES = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


def _get(config, name: str, default=None):
    return config.get(name, default) if isinstance(config, dict) else getattr(config, name, default)


def linear_shapes(config) -> dict[str, tuple[int, int]]:
    """(in, out) of each linear layer of one decoder block of a Llama/Qwen2-style model."""
    hidden, intermediate = _get(config, "hidden_size"), _get(config, "intermediate_size")
    heads = _get(config, "num_attention_heads")
    kv_heads = _get(config, "num_key_value_heads") or heads
    head_dim = _get(config, "head_dim") or hidden // heads
    return {
        "q_proj": (hidden, heads * head_dim), "k_proj": (hidden, kv_heads * head_dim),
        "v_proj": (hidden, kv_heads * head_dim), "o_proj": (heads * head_dim, hidden),
        "gate_proj": (hidden, intermediate), "up_proj": (hidden, intermediate), "down_proj": (intermediate, hidden),
    }


def count_parameters(config) -> dict[str, int]:
    """Parameters by kind: `linear` (the decoder's linear weights, what 4-bit quantizes), `other` (embeddings,
    norms, biases, an untied LM head) and `total`."""
    hidden, layers = _get(config, "hidden_size"), _get(config, "num_hidden_layers")
    vocab = _get(config, "vocab_size")
    shapes = linear_shapes(config)
    linear = layers * sum(i * o for i, o in shapes.values())
    # Qwen2 has biases on q, k and v (attention_bias False on Llama); two RMSNorms per layer and a final one.
    has_bias = _get(config, "model_type") == "qwen2" or _get(config, "attention_bias", False)
    biases = layers * sum(shapes[name][1] for name in ("q_proj", "k_proj", "v_proj")) if has_bias else 0
    embeddings = vocab * hidden * (1 if _get(config, "tie_word_embeddings", False) else 2)
    other = embeddings + biases + layers * 2 * hidden + hidden
    return {"linear": linear, "other": other, "total": linear + other}


def lora_parameters(config, r: int, target_modules: str | list[str] = "all-linear") -> int:
    """Trainable LoRA parameters: r x (in + out) for every adapted linear layer."""
    names = LINEAR_NAMES if target_modules == "all-linear" else tuple(target_modules)
    shapes = linear_shapes(config)
    return _get(config, "num_hidden_layers") * sum(r * (shapes[n][0] + shapes[n][1]) for n in names)


@dataclass(frozen=True)
class MemoryEstimate:
    weights_gb: float
    trainable_gb: float  # weights, gradients and optimizer state of what trains
    activations_gb: float
    total_gb: float
    note: str


def estimate_training_memory(
    config,
    method: str = "qlora",
    *,
    r: int = 16,
    target_modules: str | list[str] = "all-linear",
    batch_size: int = 8,
    seq_length: int = 384,
    gradient_checkpointing: bool = True,
    optimizer: str = "adamw",
    num_processes: int = 1,
    shard: bool = False,
    weight_bytes: int = 2,
) -> MemoryEstimate:
    """Per-GPU memory of one training run, estimated (see the module docstring).

    method: "qlora" (NF4 base, about 0.53 bytes per linear weight with double quantization, the rest in 16-bit),
    "lora" (16-bit base) or "full" (every weight trains: fp32 master copy, gradients, optimizer state).
    optimizer: "adamw" (8 bytes of state per trained parameter) or "adamw_8bit" (2 bytes).
    shard: FSDP / ZeRO-3 across `num_processes` GPUs (weights, gradients and state divided; activations not).
    weight_bytes: bytes per weight that is not 4-bit (2 on a GPU; 4 on a CPU, where the course loads fp32).
    Activations: with checkpointing, each layer keeps its input (2 bytes x hidden per token) and one layer's
    full set is rebuilt at a time (about 34 x hidden bytes per token); without it every layer keeps the full set.
    Logits: fp32 over the vocabulary for every token (TRL's chunked LM head on a GPU keeps less: an upper bound).
    """
    if method not in ("qlora", "lora", "full"):
        raise ValueError(f"method must be qlora, lora or full, not {method!r}")
    counts = count_parameters(config)
    hidden, layers, vocab = _get(config, "hidden_size"), _get(config, "num_hidden_layers"), _get(config, "vocab_size")
    if method == "qlora":
        # Half a byte per weight, plus one 8-bit scale per block of 64 and one fp32 scale per 256 of those.
        weights = counts["linear"] * (0.5 + 1 / 64 + 4 / (64 * 256)) + counts["other"] * weight_bytes
    else:
        weights = counts["total"] * weight_bytes
    trained = counts["total"] if method == "full" else lora_parameters(config, r, target_modules)
    state_bytes = 8 if optimizer == "adamw" else 2
    trainable = trained * (4 + 4 + state_bytes)  # fp32 weights (master copy for full), fp32 gradients, state
    if shard and num_processes > 1:
        weights /= num_processes
        trainable /= num_processes
    tokens = batch_size * seq_length
    per_layer_full = 34 * hidden * tokens
    activations = (layers * 2 * hidden * tokens + per_layer_full) if gradient_checkpointing \
        else layers * per_layer_full
    activations += tokens * vocab * 4 * 2  # logits and their gradient, fp32
    overhead = 0.5 * GB  # CUDA context, allocator slack, buffers
    total = weights + trainable + activations + overhead
    note = (f"{method}, r={r}, batch {batch_size} x {seq_length}, "
            f"{'checkpointing' if gradient_checkpointing else 'no checkpointing'}, {optimizer}"
            + (f", sharded over {num_processes}" if shard and num_processes > 1 else "") + " (estimate)")
    return MemoryEstimate(round(weights / GB, 3), round(trainable / GB, 3), round(activations / GB, 3),
                          round(total / GB, 3), note)


# docs/scale_out.md's scaling table: (setup, method in words, model shape, estimate_training_memory's arguments).
SCALING_SETUPS = [
    ("Qwen2.5-0.5B, 1 x T4 16 GB", "QLoRA r=4, paged 8-bit AdamW, checkpointing", QWEN25_05B_SHAPE,
     dict(method="qlora", r=4, batch_size=8, seq_length=384, optimizer="adamw_8bit")),
    ("Qwen2.5-0.5B, 2 x T4 (DDP: each GPU a full copy)", "the same", QWEN25_05B_SHAPE,
     dict(method="qlora", r=4, batch_size=8, seq_length=384, optimizer="adamw_8bit", num_processes=2)),
    ("Qwen2.5-0.5B, 1 x T4", "full fine-tuning, AdamW", QWEN25_05B_SHAPE,
     dict(method="full", batch_size=8, seq_length=384)),
    ("Qwen2.5-7B (7.6B), 1 x 24 GB GPU", "QLoRA r=16, paged 8-bit AdamW, checkpointing", QWEN25_7B_SHAPE,
     dict(method="qlora", r=16, batch_size=4, seq_length=1024, optimizer="adamw_8bit")),
    ("Qwen2.5-7B, 2 x T4 16 GB, FSDP + QLoRA (configs/accelerate/fsdp_qlora.yaml)",
     "QLoRA r=16, AdamW, checkpointing, fp32 storage, sharded over 2", QWEN25_7B_SHAPE,
     dict(method="qlora", r=16, batch_size=2, seq_length=1024, num_processes=2, shard=True, weight_bytes=4)),
    ("Qwen2.5-7B, 8 x A100 80 GB, DDP", "LoRA r=16 on a bf16 base", QWEN25_7B_SHAPE,
     dict(method="lora", r=16, batch_size=8, seq_length=2048, num_processes=8)),
    ("Qwen2.5-7B, 8 x A100 80 GB, FSDP / ZeRO-3", "full fine-tuning, AdamW, sharded over 8", QWEN25_7B_SHAPE,
     dict(method="full", batch_size=4, seq_length=2048, num_processes=8, shard=True)),
    ("Qwen2.5-7B, 1 x A100 80 GB (for contrast)", "full fine-tuning, AdamW", QWEN25_7B_SHAPE,
     dict(method="full", batch_size=4, seq_length=2048)),
]


def _gb(value: float) -> str:
    return f"{value:.0f} GB" if value >= 100 else f"{value:.1f} GB" if value >= 1 else f"{value:.2f} GB"


def scaling_rows() -> list[dict]:
    """The scaling table, one row per SCALING_SETUPS entry, every figure an estimate from the model's config."""
    rows = []
    for setup, method, shape, arguments in SCALING_SETUPS:
        estimate = estimate_training_memory({**shape, "model_type": "qwen2"}, **arguments)
        per_gpu = " per GPU" if arguments.get("num_processes", 1) > 1 else ""
        rows.append({
            "setup": setup, "method": method,
            "per-GPU batch x tokens": f"{arguments['batch_size']} x {arguments['seq_length']}"
                                      + (" each" if per_gpu and not arguments.get("shard") else ""),
            "weights": _gb(estimate.weights_gb), "trained state": _gb(estimate.trainable_gb),
            "activations": _gb(estimate.activations_gb), "total (estimate)": _gb(estimate.total_gb) + per_gpu,
        })
    return rows


def scaling_markdown() -> str:
    """scaling_rows() as docs/scale_out.md's Markdown table."""
    rows = scaling_rows()
    lines = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
    lines += ["| " + " | ".join(str(value) for value in row.values()) + " |" for row in rows]
    return "\n".join(lines)



# --- The compute scale of a training run (notebook 07's appendix) ---------------------------------------

CHINCHILLA_TOKENS_PER_PARAMETER = 20


def compute_budget(parameters: int, training_tokens: int) -> dict[str, float]:
    """Chinchilla rule of thumb: ~20 training tokens per parameter, compute ~ 6 x parameters x tokens FLOPs.

    Returns the run's FLOPs, the compute-optimal token count for this model size, and how far the
    run is from it (tokens_ratio 1.0 = compute-optimal; fine-tuning runs are typically far below).
    """
    if parameters <= 0 or training_tokens < 0:
        raise ValueError("parameters must be positive and training_tokens non-negative")
    optimal_tokens = CHINCHILLA_TOKENS_PER_PARAMETER * parameters
    return {
        "parameters": parameters,
        "training_tokens": training_tokens,
        "flops": 6 * parameters * training_tokens,
        "optimal_tokens": optimal_tokens,
        "optimal_flops": 6 * parameters * optimal_tokens,
        "tokens_ratio": training_tokens / optimal_tokens,
    }


if __name__ == "__main__":
    print(scaling_markdown())
