"""What this machine can do, and the training precision and quantization that follow from it."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch

from helpers.bootstrap import check_capability


@dataclass(frozen=True)
class HardwareProfile:
    """The decisions the course takes from the hardware, with the reason in one line."""

    device: str  # "cuda" or "cpu"
    gpu_name: str | None
    capability: tuple[int, int] | None
    gpu_memory_gb: float | None
    precision: str  # "bf16", "fp16" or "fp32": the compute dtype for training
    load_in_4bit: bool
    gradient_checkpointing: bool
    batch_size: int
    reason: str
    torch_compile: bool = False  # opt-in: TRL/Trainer compiles the model (see detect_hardware's `compile`)
    cpu_bf16: str | None = None  # a CPU's native bf16 feature ("AMX", "AVX512-BF16"), None without one or on a GPU

    @property
    def torch_dtype(self) -> torch.dtype:
        """The dtype weights load in: the training precision on a GPU; fp32 on a CPU, where bf16 runs as autocast.

        On a CPU the memory is there and fp32 weights keep merges and adapter-vs-merged checks exact; autocast
        still runs the matmuls in bf16 where the CPU has it natively.
        """
        if self.device == "cpu":
            return torch.float32
        return {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}[self.precision]

    @property
    def bf16(self) -> bool:
        """SFTConfig's `bf16`: mixed precision in bf16 (Ampere+ GPUs; CPUs with AMX or AVX512-BF16)."""
        return self.precision == "bf16"

    @property
    def fp16(self) -> bool:
        """SFTConfig's `fp16`: mixed precision in fp16 with loss scaling (T4 and other pre-Ampere GPUs)."""
        return self.precision == "fp16"

    @property
    def optim(self) -> str:
        """SFTConfig's `optim`: paged 8-bit AdamW for a 4-bit base on a GPU, plain AdamW elsewhere."""
        return "paged_adamw_8bit" if self.device == "cuda" and self.load_in_4bit else "adamw_torch"

    @property
    def keep_trainable_fp32(self) -> bool:
        """True where TRL's bf16 cast of adapter weights must be undone (fp16 GPUs and CPUs)."""
        return self.device == "cpu" or self.precision == "fp16"

    def sft_machine_fields(self, verbose: bool = False) -> dict:
        """The SFTConfig fields this machine decides (precision, optimizer, checkpointing, device), with the reason printed.

        Every training cell of the course passes these and writes the recipe (rank, learning rate, steps, ...)
        itself: the recipe is the lesson, these follow from the hardware. Both bf16 and fp16 are always given,
        because TRL turns bf16 on when neither is, which a CPU without native bf16 runs about 12x slower.
        """
        checkpointing = self.gradient_checkpointing
        fields = {
            "bf16": self.bf16,
            "fp16": self.fp16,
            "optim": self.optim,
            # always set: TRL 1.16 turns checkpointing on when it is unset; non-reentrant works with frozen inputs
            "activation_checkpointing": checkpointing,
            "activation_checkpointing_kwargs": {"use_reentrant": False} if checkpointing else None,
            "use_cpu": self.device == "cpu",
            "torch_compile": self.torch_compile,
        }
        if verbose:
            shown = ", ".join(f"{name}={value}" for name, value in fields.items() if name != "activation_checkpointing_kwargs")
            print(f"Machine fields for SFTConfig: {shown}. Why: {self.reason}"
                  + ("; paged 8-bit AdamW keeps optimizer state off the GPU's peak" if self.optim != "adamw_torch" else "")
                  + ("; activation checkpointing trades compute for GPU memory" if checkpointing else "") + ".")
        return fields

    def as_dict(self) -> dict:
        """A JSON-ready copy for results files."""
        return asdict(self)


def cpu_bf16_support() -> str | None:
    """The native bf16 feature of this CPU as torch reports it ("AMX" or "AVX512-BF16"), or None (bf16 is emulated)."""
    cpu = getattr(torch, "cpu", None)
    mkldnn_bf16 = getattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: False)()
    if mkldnn_bf16 and getattr(cpu, "_is_amx_tile_supported", lambda: False)():
        return "AMX"
    if mkldnn_bf16 and getattr(cpu, "_is_avx512_bf16_supported", lambda: False)():
        return "AVX512-BF16"
    return None


# Measured by `python -m benchmarks.train_speed --compile` (see docs/performance.md, "Training speed").
COMPILE_NOTE = ("It pays off only for long runs with steady shapes: on a 2-core CPU (bf16, batch 4) compiling took "
                "about 430 s (once, then again for varying sequence lengths) and saved about 0.25 s of 1.9 s per "
                "step, so it breaks even after about 1,700 steps; every run in this course is shorter.")


def _batch_size_for(device: str, gpu_memory_gb: float | None) -> int:
    if device == "cpu":
        return 4
    if gpu_memory_gb is not None and gpu_memory_gb >= 40:
        return 16
    return 8  # a 16 GB T4 fits 8 sequences of 512 tokens of a 0.5B model in 4-bit with checkpointing


def detect_hardware(
    load_in_4bit: bool | None = None,
    *,
    cuda_available: bool | None = None,
    capability: tuple[int, int] | None = None,
    gpu_name: str | None = None,
    gpu_memory_gb: float | None = None,
    cpu_bf16: str | None = "detect",
    compile: bool = False,
    verbose: bool = True,
) -> HardwareProfile:
    """Inspect the machine (or the simulated one passed in) and decide precision, 4-bit and batch size.

    `load_in_4bit=None` means: 4-bit NF4 on CUDA, full precision on CPU; True or False forces it.
    The keyword arguments after `*` simulate hardware, for tests and for planning a GPU run on a laptop;
    `cpu_bf16` is the CPU's native bf16 feature ("AMX", "AVX512-BF16" or None), "detect" asks torch.
    `compile=True` turns on torch.compile for training (SFTConfig's torch_compile). It costs a one-off
    compilation before the first step and saves a little on every step after it: see COMPILE_NOTE.
    """
    if cuda_available is None:
        cuda_available = torch.cuda.is_available()
    if cuda_available:
        if capability is None:
            capability = tuple(torch.cuda.get_device_capability(0))
        if gpu_name is None:
            gpu_name = torch.cuda.get_device_name(0)
        if gpu_memory_gb is None:
            gpu_memory_gb = round(torch.cuda.get_device_properties(0).total_memory / 2**30, 1)
        check_capability(capability, gpu_name)  # below 7.0 (P100, K80): one clear sentence, not a CUDA error later
        # torch.cuda.is_bf16_supported() says True on a T4 because it counts emulation: ask the capability.
        if capability[0] >= 8:
            precision = "bf16"
            why = f"compute capability {capability[0]}.{capability[1]} has bf16 tensor cores"
        else:
            precision = "fp16"
            why = (
                f"compute capability {capability[0]}.{capability[1]} has no bf16 hardware: fp16 compute, "
                "trainable LoRA weights kept in fp32"
            )
        device, feature = "cuda", None
    else:
        device, capability, gpu_name, gpu_memory_gb = "cpu", None, None, None
        feature = cpu_bf16_support() if cpu_bf16 == "detect" else cpu_bf16
        if feature:
            precision = "bf16"
            why = f"no CUDA GPU; this CPU has native bf16 ({feature}): bf16 autocast over fp32 weights"
        else:
            precision = "fp32"
            why = "no CUDA GPU and no native bf16 on this CPU (no AMX or AVX512-BF16): fp32 (emulated bf16 trains ~12x slower)"

    quantize = (device == "cuda") if load_in_4bit is None else bool(load_in_4bit)
    quant_why = "4-bit NF4 base" if quantize else "full-precision base"
    if load_in_4bit is not None:
        quant_why += " (forced)"
    profile = HardwareProfile(
        device=device,
        gpu_name=gpu_name,
        capability=capability,
        gpu_memory_gb=gpu_memory_gb,
        precision=precision,
        load_in_4bit=quantize,
        gradient_checkpointing=device == "cuda",
        batch_size=_batch_size_for(device, gpu_memory_gb),
        reason=f"{why}; {quant_why}" + ("; torch.compile on (opt-in)" if compile else ""),
        torch_compile=bool(compile),
        cpu_bf16=feature if device == "cpu" else None,
    )
    if verbose:
        where = gpu_name or "CPU"
        print(f"Hardware: {where} -> {precision}, {quant_why}, batch {profile.batch_size}. Why: {why}.")
        if compile:
            print(f"torch.compile is on. {COMPILE_NOTE}")
    return profile


def keep_trainable_params_fp32(model: torch.nn.Module) -> int:
    """Cast every trainable parameter to fp32 in place; returns how many were cast.

    TRL casts LoRA weights of a quantized model to bf16. With fp16 mixed precision the
    GradScaler then fails on bf16 gradients (TRL issue 4901), and on a CPU bf16 is slow,
    so on non-bf16 hardware the trainable weights go back to fp32.
    """
    cast = 0
    for param in model.parameters():
        if param.requires_grad and param.dtype != torch.float32:
            param.data = param.data.float()
            cast += 1
    return cast
