"""configs/ for `trl sft`: the shipped config is valid, and a bad key or value is named before launch."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import yaml

from helpers.launch import (
    ConfigError,
    launch_env,
    main,
    model_load_settings,
    one_process_command,
    require_one_process,
    run_launch,
    two_process_command,
    validate_sft_config,
    value_overrides,
)

CONFIG = Path(__file__).resolve().parents[1] / "configs" / "python_style.yaml"


def _write(tmp_path, **changes) -> Path:
    config = yaml.safe_load(CONFIG.read_text())
    config.update(changes)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_the_shipped_config_is_valid_and_holds_02s_recipe():
    config = validate_sft_config(CONFIG)
    assert (config["lora_r"], config["lora_alpha"], config["lora_dropout"]) == (4, 8, 0.0)
    assert (config["max_steps"], config["learning_rate"], config["lr_scheduler_type"]) == (40, 1e-3, "cosine")
    assert config["completion_only_loss"] is True and config["max_length"] == 384
    assert config["activation_checkpointing_kwargs"] == {"use_reentrant": False}


def test_an_unknown_key_is_named_with_the_nearest_known_one(tmp_path):
    with pytest.raises(ConfigError, match=r"unknown key `lerning_rate`.*Did you mean `learning_rate`"):
        validate_sft_config(_write(tmp_path, lerning_rate=2e-4))


@pytest.mark.parametrize("key, value", [("learning_rate", "fast"), ("max_steps", 40.5), ("use_peft", "yes"),
                                        ("lora_r", True), ("dtype", "float8")])
def test_a_value_of_the_wrong_type_is_named(tmp_path, key, value):
    with pytest.raises(ConfigError, match=f"`{key}`"):
        validate_sft_config(_write(tmp_path, **{key: value}))


def test_the_command_line_says_ok_or_names_the_problem(tmp_path, capsys):
    assert main(["check", str(CONFIG)]) == 0
    assert "all known" in capsys.readouterr().out
    assert main(["check", str(_write(tmp_path, warmup_step=4))]) == 1
    assert "`warmup_step`" in capsys.readouterr().err


def test_accelerate_launch_options_are_known_keys_and_their_typos_are_named(tmp_path):
    config = validate_sft_config(_write(tmp_path, num_processes=2, accelerate_config="multi_gpu"))
    assert config["num_processes"] == 2, "`trl sft` passes num_processes on to accelerate launch"
    with pytest.raises(ConfigError, match=r"unknown key `num_proceses`.*Did you mean `num_processes`"):
        validate_sft_config(_write(tmp_path, num_proceses=2))


# --- the multi-process rules (helpers.launch.model_load_settings), simulated on the CPU ----------------------

FSDP_CONFIG = CONFIG.parent / "accelerate" / "fsdp_qlora.yaml"


def _fsdp_environment() -> dict[str, str]:
    """The environment `accelerate launch --config_file configs/accelerate/fsdp_qlora.yaml` gives each process."""
    from accelerate.commands.launch import _validate_launch_command, launch_command_parser
    from accelerate.utils.launch import prepare_multi_gpu_env

    args = launch_command_parser().parse_args(["--config_file", str(FSDP_CONFIG), "train.py"])
    args, _, _ = _validate_launch_command(args)
    return prepare_multi_gpu_env(args)


def _settings(distributed_type="FSDP", **changes):
    options = dict(local_process_index=1, load_in_4bit=True, dtype="bfloat16", bnb_4bit_quant_storage=None,
                   optim="adamw_torch", fp16=False, cpu_ram_efficient_loading=True)
    options.update(changes)
    return model_load_settings(distributed_type, **options)


def test_the_fsdp_qlora_config_as_accelerate_reads_it_passes_the_rules_on_t4s_and_a100s():
    env = _fsdp_environment()
    assert env["ACCELERATE_USE_FSDP"] == "true" and env["FSDP_VERSION"] == "1"
    assert env["FSDP_CPU_RAM_EFFICIENT_LOADING"] == "true" and env["FSDP_SYNC_MODULE_STATES"] == "true"
    assert env["FSDP_USE_ORIG_PARAMS"] == "false" and env["FSDP_STATE_DICT_TYPE"] == "FULL_STATE_DICT"
    assert env["ACCELERATE_MIXED_PRECISION"] == "no", "the SFT config's bf16/fp16 decides the precision"
    ram_efficient = env["FSDP_CPU_RAM_EFFICIENT_LOADING"] == "true"
    t4 = _settings(dtype="float32", fp16=True, cpu_ram_efficient_loading=ram_efficient)
    a100 = _settings(dtype="bfloat16", cpu_ram_efficient_loading=ram_efficient)
    assert t4 == {"device_map": None, "bnb_4bit_quant_storage": "float32"}, "fp32 storage on fp16 hardware"
    assert a100 == {"device_map": None, "bnb_4bit_quant_storage": "bfloat16"}, "storage = the model's dtype"


@pytest.mark.parametrize("changes, named", [
    (dict(bnb_4bit_quant_storage="uint8"), "bnb_4bit_quant_storage"),
    (dict(dtype="float16", fp16=True), "dtype"),
    (dict(dtype="auto"), "dtype"),
    (dict(optim="paged_adamw_8bit"), "optim"),
    (dict(cpu_ram_efficient_loading=False), "fsdp_cpu_ram_efficient_loading"),
])
def test_an_fsdp_qlora_run_that_would_fail_or_train_wrongly_stops_naming_the_option(changes, named):
    with pytest.raises(ConfigError, match=f"`{named}`"):
        _settings(**changes)


def test_the_rules_read_the_optimizer_as_an_sft_config_holds_it():
    """scripts/sft_course.py passes SFTConfig's own `optim`, an enum whose str() is "OptimizerNames.PAGED_ADAMW_8BIT"."""
    from trl import SFTConfig

    args = SFTConfig(output_dir="unused", optim="paged_adamw_8bit", use_cpu=True, bf16=False, report_to="none")
    with pytest.raises(ConfigError, match="`optim` paged_adamw_8bit"):
        _settings(optim=args.optim)


def test_under_ddp_each_process_loads_its_4bit_copy_onto_its_own_gpu():
    assert _settings("MULTI_GPU", local_process_index=1)["device_map"] == {"": 1}
    assert _settings("NO", local_process_index=0)["device_map"] == {"": 0}
    assert _settings("MULTI_GPU", load_in_4bit=False)["device_map"] is None, "a full-precision model: TRL places it"
    assert _settings("MULTI_GPU", optim="paged_adamw_8bit")["device_map"] == {"": 1}, "paged AdamW is fine under DDP"


def test_merging_refuses_to_run_inside_a_multi_process_launch(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(RuntimeError, match="one process"):
        require_one_process("merging")
    monkeypatch.setenv("WORLD_SIZE", "1")
    require_one_process("merging")


# --- the command for each machine ----------------------------------------------------------------------------


def _flags(overrides: list[str]) -> dict[str, str]:
    return dict(zip(overrides[::2], overrides[1::2]))


@pytest.mark.parametrize("machine", ["cpu", "t4", "a100"])
def test_the_launch_changes_values_for_the_machine_never_the_recipe(tmp_path, machine):
    from helpers.hardware import detect_hardware

    profile = {"cpu": dict(cuda_available=False, cpu_bf16=None),
               "t4": dict(cuda_available=True, capability=(7, 5), gpu_name="Tesla T4", gpu_memory_gb=15.0),
               "a100": dict(cuda_available=True, capability=(8, 0), gpu_name="A100", gpu_memory_gb=80.0)}[machine]
    profile = detect_hardware(verbose=False, **profile)
    overrides = value_overrides(profile, model="m", data_dir=tmp_path / "data", output_dir=tmp_path / "out",
                                max_steps=8, batch_size=4)
    flags = {key.removeprefix("--"): value for key, value in _flags(overrides).items()}
    recipe = {"lora_r", "lora_alpha", "lora_dropout", "lora_target_modules", "learning_rate", "lr_scheduler_type",
              "warmup_steps", "max_length", "completion_only_loss", "gradient_accumulation_steps", "use_peft"}
    assert not recipe & set(flags), "only values for this machine: the recipe stays the YAML's"
    merged = {**yaml.safe_load(CONFIG.read_text()), **{k: yaml.safe_load(v) for k, v in flags.items()}}
    merged["model_name_or_path"], merged["dataset_name"], merged["output_dir"] = "m", "data", "out"
    path = tmp_path / "merged.yaml"
    path.write_text(yaml.safe_dump(merged))
    validate_sft_config(path)  # every override is a known key with a value of the right type

    command, why = one_process_command(profile, CONFIG, overrides)
    two, two_why = two_process_command(profile, CONFIG, overrides)
    if machine == "cpu":
        assert (flags["use_cpu"], flags["load_in_4bit"], flags["dtype"], flags["optim"]) == (
            "true", "false", "float32", "adamw_torch")
        assert Path(command[0]).name == "trl" and command[1] == "sft"
        assert Path(two[0]).name == "torchrun" and two[-2:] == ["--ddp_backend", "gloo"] and "gloo" in two_why
    elif machine == "t4":
        assert (flags["bf16"], flags["fp16"], flags["dtype"]) == ("false", "true", "float16")
        assert command[1].endswith("sft_course.py") and "4901" in why, "fp16 GPUs: the course's script"
        assert two[1:5] == ["launch", "--multi_gpu", "--num_processes", "2"]
    else:
        assert not {"bf16", "fp16", "dtype", "use_cpu"} & set(flags), "bf16 GPUs run the YAML as written"
        assert Path(command[0]).name == "trl"


def test_a_two_process_launch_from_the_notebook_sees_every_gpu_again_and_one_process_keeps_one(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
    monkeypatch.setenv("QLORA_COURSE_ALL_GPUS", "0,1")
    env = launch_env(processes=2)
    assert env["CUDA_VISIBLE_DEVICES"] == "0,1" and int(env["OMP_NUM_THREADS"]) >= 1
    assert launch_env(processes=1)["CUDA_VISIBLE_DEVICES"] == "0", "one process keeps one GPU (no nn.DataParallel)"


def test_a_failed_launch_shows_its_last_lines_and_names_its_log(tmp_path, capsys):
    log = tmp_path / "launch.log"
    with pytest.raises(RuntimeError, match=str(log)):
        run_launch([sys.executable, "-c", "print('step one'); raise SystemExit('the reason it stopped')"], log)
    printed = capsys.readouterr().out
    assert "the reason it stopped" in printed and "step one" in log.read_text()


def test_without_the_trl_command_on_path_the_launch_runs_its_module(tmp_path, monkeypatch):
    """A runtime where pip put no `trl` script beside Python or on PATH still launches the same command."""
    from helpers.hardware import detect_hardware

    monkeypatch.setattr(sys, "executable", str(tmp_path / "python"))
    monkeypatch.setenv("PATH", str(tmp_path))
    profile = detect_hardware(verbose=False, cuda_available=False, cpu_bf16=None)
    command, _ = one_process_command(profile, CONFIG, [])
    assert command[:4] == [str(tmp_path / "python"), "-m", "trl.cli.main", "sft"]
    two, _ = two_process_command(profile, CONFIG, [])
    assert two[:3] == [str(tmp_path / "python"), "-m", "torch.distributed.run"]
