"""What training leaves on disk: checkpoints vs the final adapter, sizes, zip and hub upload."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

# What each file of a checkpoint or adapter folder is for.
FILE_ROLES = {
    "adapter_model.safetensors": "LoRA weights (inference and resuming)",
    "adapter_config.json": "LoRA settings and the base model's name",
    "optimizer.pt": "optimizer state, e.g. AdamW moments (resuming only)",
    "scheduler.pt": "learning-rate scheduler position (resuming only)",
    "rng_state.pth": "random number generator state (resuming only)",
    "trainer_state.json": "step, logs, best metric (resuming only)",
    "training_args.bin": "the SFTConfig used (resuming only)",
    "tokenizer.json": "tokenizer vocabulary and rules",
    "tokenizer_config.json": "tokenizer settings (padding, special tokens)",
    "chat_template.jinja": "the chat template",
    "README.md": "model card written by PEFT",
}


def folder_size_mb(path: str | Path) -> float:
    """Total size of the files under path, in MB."""
    return sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file()) / 2**20


def folder_rows(path: str | Path) -> list[dict]:
    """One row per file in a folder: name, size and what it is for."""
    rows = []
    for file in sorted(Path(path).iterdir()):
        if file.is_file():
            rows.append({"file": file.name, "size_mb": round(file.stat().st_size / 2**20, 3),
                         "what it is for": FILE_ROLES.get(file.name, "")})
    return rows


def checkpoints(run_dir: str | Path) -> list[Path]:
    """The checkpoint-N folders of a run, oldest first."""
    found = [p for p in Path(run_dir).glob("checkpoint-*") if p.is_dir() and p.name.split("-")[-1].isdigit()]
    return sorted(found, key=lambda p: int(p.name.split("-")[-1]))


# What the Trainer writes into a checkpoint for an exact resume: the adapter, the optimizer, the scheduler and the
# step counter. A folder without all of them was cut off while being written (a killed process).
CHECKPOINT_FILES = ("trainer_state.json", "optimizer.pt", "scheduler.pt")


def latest_complete_checkpoint(run_dir: str | Path, verbose: bool = True) -> Path | None:
    """The newest checkpoint-N folder that holds everything a resume needs; half-written ones are skipped, and said."""
    for folder in reversed(checkpoints(run_dir)):
        missing = [name for name in CHECKPOINT_FILES if not (folder / name).is_file()]
        if not any(folder.glob("adapter_model.*")) and not any(folder.glob("model*.safetensors")):
            missing.append("adapter_model.safetensors")
        if not missing:  # the Trainer writes trainer_state.json last: a kill can cut it off mid-write
            try:
                json.loads((folder / "trainer_state.json").read_text())
            except (json.JSONDecodeError, UnicodeDecodeError):
                missing.append("readable trainer_state.json")
        if not missing:
            return folder
        if verbose:
            print(f"Skipping {folder.name}: half-written (no {', '.join(missing)}), probably cut off by a kill.")
    return None


def clear_checkpoints(run_dir: str | Path) -> int:
    """Delete the checkpoint-N folders an earlier run left in run_dir; returns how many, and says so.

    Trainer's `save_total_limit` keeps the highest-numbered checkpoints, so a shorter run into the same folder
    would have its own checkpoints deleted in favour of a longer earlier run's.
    """
    import shutil

    old = checkpoints(run_dir)
    for folder in old:
        shutil.rmtree(folder)
    if old:
        print(f"Removed {len(old)} checkpoint folder(s) of an earlier run in {run_dir}.")
    return len(old)


def zip_adapter(adapter_dir: str | Path, zip_path: str | Path) -> Path:
    """Zip an adapter folder for download; returns the .zip path."""
    zip_path = Path(zip_path)
    archive = shutil.make_archive(str(zip_path.with_suffix("")), "zip", root_dir=str(adapter_dir))
    return Path(archive)


def push_adapter_to_hub(model, tokenizer, repo_id: str, token: str | None, private: bool = True) -> str:
    """Upload an adapter (and tokenizer) to the hub when a token is present; returns what happened."""
    if not token:
        return "Skipped the upload: no Hugging Face token found (see .env.example)."
    if not repo_id:
        return "Skipped the upload: set PUSH_TO_HUB_REPO to a repository id such as 'your-name/python-style-lora'."
    model.push_to_hub(repo_id, token=token, private=private)
    tokenizer.push_to_hub(repo_id, token=token, private=private)
    return f"Uploaded to https://huggingface.co/{repo_id}"
