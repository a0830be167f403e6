"""Shared fixtures: the offline model's tokenizer, the tiny model, a CPU hardware profile."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import pytest  # noqa: E402

from helpers.hardware import detect_hardware  # noqa: E402
from helpers.models import (  # noqa: E402
    OFFLINE_PRESET,
    TINY_PRESET,
    load_model_and_tokenizer,
    load_tokenizer,
)


@pytest.fixture(scope="session")
def cpu_profile():
    """This machine's real CPU profile: for code that runs here (training, loading), never for a verdict."""
    return detect_hardware(cuda_available=False, verbose=False)


# The two CPU classes the course meets: a verdict that depends on the machine runs under both, simulated,
# so it passes or fails the same way on either class of machine.
CPU_CLASSES = {"cpu-fp32": None, "cpu-bf16": "AVX512-BF16"}


@pytest.fixture(params=list(CPU_CLASSES))
def simulated_cpu(request):
    """A CPU profile without native bf16, then one with it (AVX512-BF16), whatever this machine has."""
    return detect_hardware(cuda_available=False, cpu_bf16=CPU_CLASSES[request.param], verbose=False)


@pytest.fixture(scope="session")
def offline_tokenizer():
    """SmolLM2's tokenizer: pad is EOS (<|im_end|>)."""
    return load_tokenizer(OFFLINE_PRESET)


@pytest.fixture(scope="session")
def tiny_tokenizer():
    """The tiny model's tokenizer, laid out like Qwen2.5's: pad <|endoftext|>, EOS <|im_end|>."""
    return load_tokenizer(TINY_PRESET)


@pytest.fixture(params=["offline", "tiny"])
def tokenizer(request, offline_tokenizer, tiny_tokenizer):
    """Each test using it runs on both tokenizer layouts."""
    return offline_tokenizer if request.param == "offline" else tiny_tokenizer


@pytest.fixture
def tiny_model(cpu_profile):
    model, _ = load_model_and_tokenizer(TINY_PRESET, cpu_profile, verbose=False)
    return model


@pytest.fixture(scope="session")
def offline_model_and_tokenizer(cpu_profile):
    return load_model_and_tokenizer(OFFLINE_PRESET, cpu_profile, verbose=False)
