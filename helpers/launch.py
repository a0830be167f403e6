"""Launching notebook 02's recipe outside a notebook: check the `trl sft` YAML, pick the command, run it.

A misspelt key in a `trl sft` config is not named where it goes wrong: `trl sft` hands every key it does not know
to `accelerate launch` (that is how `num_processes: 2` in the YAML reaches accelerate), and a typo such as
`lerning_rate` ends in a 200-line usage text; TRL's own script run with python (`trl/scripts/sft.py`) ignores it
and trains with the default. A value of the wrong type gets through to the run. This check names the key first:

    python -m helpers.launch check configs/python_style.yaml

The rest is what notebook 08 and scripts/sft_course.py share: the command for this machine (`trl sft`, or the
course's script where `trl sft` cannot express the recipe), the multi-process loading rules, and running a launch
with its full log kept on disk.
"""

from __future__ import annotations

import ast
import dataclasses
import difflib
import enum
import json
import os
import shlex
import shutil
import subprocess
import sys
import time
import types
import typing
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "sft_course.py"


class ConfigError(ValueError):
    """A config key that TRL does not know, or a value of the wrong type; the message names the file and key."""


def trl_sft_fields() -> dict[str, tuple[type, str, list | None]]:
    """Every key `trl sft` reads from its YAML: field name -> (annotated type, owning dataclass, allowed choices)."""
    from trl import DatasetMixtureConfig, ModelConfig, ScriptArguments, SFTConfig

    fields: dict[str, tuple[type, str, list | None]] = {}
    for owner in (ScriptArguments, SFTConfig, ModelConfig, DatasetMixtureConfig):
        hints = typing.get_type_hints(owner)
        for item in dataclasses.fields(owner):
            if item.init:
                fields.setdefault(item.name, (hints.get(item.name, object), owner.__name__,
                                              item.metadata.get("choices")))
    return fields


def accelerate_launch_keys() -> set[str]:
    """The options `trl sft` passes on to `accelerate launch` when they appear in its YAML (num_processes, ...)."""
    from accelerate.commands.launch import launch_command_parser

    keys = {action.dest for action in launch_command_parser()._actions} - {"help", "training_script",
                                                                           "training_script_args"}
    return keys | {"accelerate_config"}  # TRL's own: a bundled accelerate config name, or a path


def _type_name(annotation) -> str:
    return getattr(annotation, "__name__", None) or str(annotation).replace("typing.", "")


def _matches(value, annotation) -> bool:
    """Whether a YAML value fits a dataclass field's annotation (as HfArgumentParser would accept it)."""
    if annotation is typing.Any or annotation is object:
        return True
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return any(_matches(value, option) for option in typing.get_args(annotation))
    if annotation is type(None):
        return value is None
    if origin is typing.Literal:
        return value in typing.get_args(annotation)
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return value in {member.value for member in annotation} or isinstance(value, annotation)
    if origin in (list, tuple):
        (item_type, *_rest) = typing.get_args(annotation) or (object,)
        # A plain string stands for a one-word list where TRL passes it on as it is ("all-linear" for PEFT).
        return isinstance(value, str) or (isinstance(value, list) and all(_matches(item, item_type) for item in value))
    if origin is dict or annotation is dict:
        return isinstance(value, dict)
    if annotation is bool:
        return isinstance(value, bool)
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if annotation is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if annotation is str:
        return isinstance(value, str)
    if dataclasses.is_dataclass(annotation):
        return isinstance(value, dict)
    return True  # anything more exotic: left to TRL


def validate_sft_config(path: str | Path) -> dict:
    """Load a `trl sft` YAML config and check every key and value; returns the mapping, raises ConfigError."""
    import yaml

    path = Path(path)
    try:
        config = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: not valid YAML: {error}") from error
    if not isinstance(config, dict):
        raise ConfigError(f"{path}: must be a YAML mapping of `trl sft` options, not {type(config).__name__}.")
    known = trl_sft_fields()
    launcher = accelerate_launch_keys()
    for key, value in config.items():
        if key == "env":
            if not isinstance(value, dict):
                raise ConfigError(f"{path}: `env` must be a mapping of environment variables.")
            continue
        if key in launcher and key not in known:
            continue  # an `accelerate launch` option: accelerate checks it when it starts
        if key not in known:
            close = difflib.get_close_matches(str(key), [*known, *launcher], n=1, cutoff=0.8)
            hint = f" Did you mean `{close[0]}`?" if close else ""
            raise ConfigError(f"{path}: unknown key `{key}`: neither TRL nor `accelerate launch` knows it "
                              f"(`trl sft` would stop in accelerate's usage text, TRL's script would ignore it).{hint}")
        annotation, owner, choices = known[key]
        if not _matches(value, annotation):
            raise ConfigError(f"{path}: `{key}` ({owner}) must be {_type_name(annotation)}, "
                              f"got {value!r} ({type(value).__name__}).")
        if choices and value is not None and value not in choices:
            raise ConfigError(f"{path}: `{key}` ({owner}) must be one of {choices}, got {value!r}.")
    return config


# --- The rules for more than one process ------------------------------------------------------------------------


def model_load_settings(distributed_type: str, *, local_process_index: int, load_in_4bit: bool, dtype: str | None,
                        bnb_4bit_quant_storage: str | None, optim, fp16: bool,
                        cpu_ram_efficient_loading: bool) -> dict:
    """How each process loads the model under `distributed_type` ("NO", "MULTI_GPU", "MULTI_CPU", "FSDP", ...).

    Returns `device_map` and `bnb_4bit_quant_storage` for the load; raises ConfigError, naming the option, for a
    combination that would fail or train wrongly. Each rule, with its one-line reason:
    - a 4-bit model without FSDP: every process loads a full copy onto its own GPU (`{"": local rank}`); "auto"
      would spread one copy over all GPUs in every process;
    - FSDP + QLoRA: no device_map (FSDP places the shards), and the 4-bit weights are stored in the model's dtype,
      because FSDP shards only float tensors of one dtype (bitsandbytes' `quant_storage`);
    - FSDP + QLoRA on fp16 hardware: dtype and storage float32, since fp16 storage is unstable under the fp16 loss
      scaler (PEFT's FSDP guide);
    - FSDP + QLoRA needs CPU-RAM-efficient loading (rank 0 reads the weights, the others receive them);
    - FSDP + QLoRA: no paged 8-bit optimizer, which fails when a checkpoint is saved (PEFT's FSDP guide).
    `optim` is a name or an SFTConfig's own `optim` (an enum, whose str() is "OptimizerNames.PAGED_ADAMW_8BIT").
    """
    optim = str(getattr(optim, "value", optim))
    if not load_in_4bit:
        return {"device_map": None, "bnb_4bit_quant_storage": bnb_4bit_quant_storage}
    if distributed_type != "FSDP":
        return {"device_map": {"": local_process_index}, "bnb_4bit_quant_storage": bnb_4bit_quant_storage}
    if dtype in (None, "auto"):
        raise ConfigError("FSDP + QLoRA: set `dtype` (bfloat16, or float32 on fp16 hardware): the 4-bit weights "
                          "are stored in it, and FSDP shards only one float dtype.")
    if fp16 and dtype != "float32":
        raise ConfigError(f"FSDP + QLoRA with fp16: `dtype` must be float32 (got {dtype}); fp16 storage is unstable "
                          "under the fp16 loss scaler.")
    if bnb_4bit_quant_storage not in (None, dtype):
        raise ConfigError(f"FSDP + QLoRA: `bnb_4bit_quant_storage` ({bnb_4bit_quant_storage}) must equal `dtype` "
                          f"({dtype}): FSDP shards only float tensors of one dtype.")
    if "8bit" in optim or optim.startswith("paged"):
        raise ConfigError(f"FSDP + QLoRA: `optim` {optim} fails when a checkpoint is saved; use adamw_torch.")
    if not cpu_ram_efficient_loading:
        raise ConfigError("FSDP + QLoRA needs `fsdp_cpu_ram_efficient_loading` set to true in the accelerate config "
                          "(configs/accelerate/fsdp_qlora.yaml): rank 0 loads the weights, the others receive them.")
    return {"device_map": None, "bnb_4bit_quant_storage": dtype}


def require_one_process(what: str = "merging") -> None:
    """Stop with a clear message when called inside a multi-process launch (merging belongs after training)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1:
        raise RuntimeError(f"Do {what} after training, in one process (this is one of {world}): under FSDP each "
                           "process holds only a shard of the weights, and PEFT refuses to merge there.")


# --- The command for this machine ----------------------------------------------------------------------------


def _executable(name: str) -> list[str]:
    """The command `name` of the kernel's own environment, else on PATH, else run as the module behind it."""
    beside = Path(sys.executable).with_name(name)
    if beside.exists():
        return [str(beside)]
    if shutil.which(name):
        return [name]
    module = {"trl": "trl.cli.main", "torchrun": "torch.distributed.run", "accelerate": "accelerate.commands.accelerate_cli"}
    return [sys.executable, "-m", module[name]]


def value_overrides(profile, *, model: str, data_dir: str | Path, output_dir: str | Path, max_steps: int,
                    batch_size: int, extra: dict | None = None) -> list[str]:
    """Command-line flags that change only values of the YAML for this machine, never the recipe."""
    values = {"model_name_or_path": model, "dataset_name": str(data_dir), "output_dir": str(output_dir),
              "max_steps": max_steps, "per_device_train_batch_size": batch_size,
              "per_device_eval_batch_size": batch_size}
    if profile.device == "cpu":  # fp32 weights; 4-bit on a CPU is slow; the paged optimizer needs CUDA
        values.update(use_cpu=True, dtype="float32", load_in_4bit=False, bf16=profile.bf16, fp16=False,
                      optim="adamw_torch", activation_checkpointing=False)
    elif profile.fp16:  # a T4: fp16 compute over an fp16 base
        values.update(bf16=False, fp16=True, dtype="float16")
    values.update(extra or {})
    flags = []
    for key, value in values.items():
        flags += [f"--{key}", str(value).lower() if isinstance(value, bool) else str(value)]
    return flags


def one_process_command(profile, config: str | Path, overrides: list[str]) -> tuple[list[str], str]:
    """`trl sft --config ...`, or the course's script on fp16 GPUs; returns (command, why this one)."""
    if profile.device == "cuda" and profile.fp16:
        return ([sys.executable, str(SCRIPT), "--config", str(config), *overrides],
                "fp16 GPU: scripts/sft_course.py, since `trl sft` casts the LoRA weights of a 4-bit model to bf16 "
                "and the fp16 loss scaler then fails (TRL issue 4901)")
    return ([*_executable("trl"), "sft", "--config", str(config), *overrides],
            "TRL's own command: it reads the YAML and starts the training through `accelerate launch`")


def two_process_command(profile, config: str | Path, overrides: list[str], processes: int = 2) -> tuple[list[str], str]:
    """The same training on `processes` processes (DDP); returns (command, why this launcher)."""
    script = [str(SCRIPT), "--config", str(config), *overrides]
    if profile.device == "cpu":
        return ([*_executable("torchrun"), "--nproc_per_node", str(processes), *script, "--ddp_backend", "gloo"],
                "CPU: torchrun starts the processes (`accelerate launch --cpu --num_processes 2` starts one), "
                "gloo connects them")
    return ([*_executable("accelerate"), "launch", "--multi_gpu", "--num_processes", str(processes), *script],
            f"{processes} GPUs: accelerate starts one process per GPU; the course's script records each "
            "process's share (with bf16 GPUs `trl sft ... --accelerate_config multi_gpu --num_processes 2` "
            "runs the same training)")


def launch_env(processes: int = 1) -> dict[str, str]:
    """The environment for a launch from a notebook: threads split between processes and, for a multi-process
    launch, every GPU visible again (the setup cell pinned the notebook to one; a single process keeps that pin,
    since with two GPUs visible the Trainer would wrap the model in nn.DataParallel, which SFTTrainer refuses)."""
    env = {**os.environ, "TOKENIZERS_PARALLELISM": "false"}
    if processes > 1 and "QLORA_COURSE_ALL_GPUS" in env:
        env["CUDA_VISIBLE_DEVICES"] = env["QLORA_COURSE_ALL_GPUS"]
    env["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // processes))
    env.pop("MPLBACKEND", None)  # the notebook's inline backend does not exist in a plain Python
    return env


def run_launch(command: list[str], log_path: str | Path, processes: int = 1) -> float:
    """Run a launch, its full output into `log_path`; print the command and the training log lines; seconds taken.

    On failure: the last lines of the log, then an error naming the log file.
    """
    log_path = Path(log_path)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    print("$ " + shlex.join(command))
    started = time.perf_counter()
    with log_path.open("w") as log:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                   env=launch_env(processes), bufsize=1)
        step = 0
        for line in process.stdout:
            log.write(line)
            if line.startswith("{'loss'"):  # the Trainer's log line, one per logging step
                step += 1
                entry = ast.literal_eval(line.strip())
                print(f"  log {step}: loss {entry['loss']}, learning rate {entry.get('learning_rate')}, "
                      f"epoch {entry.get('epoch')}")
            elif line.startswith(("{'eval_loss'", "Trained ", "Resuming", "No complete checkpoint")):
                print("  " + line.rstrip()[:160])
        process.wait()
    seconds = time.perf_counter() - started
    if process.returncode != 0:
        tail = log_path.read_text().splitlines()[-25:]
        print("\n".join(tail))
        raise RuntimeError(f"The launch failed (exit code {process.returncode}); the full output is in {log_path}.")
    print(f"Done in {seconds:.0f} s; the full output is in {log_path}.")
    return seconds


def training_log(output_dir: str | Path) -> dict:
    """What a `trl sft` run left: its last checkpoint's trainer state (steps, batch, losses)."""
    from helpers.artifacts import latest_complete_checkpoint

    checkpoint = latest_complete_checkpoint(output_dir, verbose=False)
    if checkpoint is None:
        raise FileNotFoundError(f"{output_dir} holds no complete checkpoint: did the run save one?")
    state = json.loads((checkpoint / "trainer_state.json").read_text())
    return {"checkpoint": str(checkpoint), "steps": state["global_step"],
            "per_device_batch": state["train_batch_size"],
            "losses": [(entry["step"], entry["loss"]) for entry in state["log_history"] if "loss" in entry]}


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 2 or args[0] != "check":
        print("usage: python -m helpers.launch check CONFIG.yaml", file=sys.stderr)
        return 2
    try:
        config = validate_sft_config(args[1])
    except ConfigError as error:
        print(error, file=sys.stderr)
        return 1
    print(f"{args[1]}: {len(config)} keys, all known to `trl sft`, all of the right type.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
