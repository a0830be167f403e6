"""Run folders: which checkpoints exist, which one a resume can use, and clearing them."""

from __future__ import annotations

from helpers.artifacts import checkpoints, clear_checkpoints, latest_complete_checkpoint


def test_clear_checkpoints_removes_only_checkpoint_folders(tmp_path, capsys):
    for name in ("checkpoint-20", "checkpoint-40", "checkpoint-6", "final", "checkpoint-notes"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "file.txt").write_text("x")
    assert [p.name for p in checkpoints(tmp_path)] == ["checkpoint-6", "checkpoint-20", "checkpoint-40"]
    assert clear_checkpoints(tmp_path) == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint-notes", "final"]
    assert "Removed 3 checkpoint folder(s)" in capsys.readouterr().out
    assert clear_checkpoints(tmp_path) == 0


def test_the_latest_complete_checkpoint_skips_half_written_ones(tmp_path, capsys):
    def checkpoint(step: int, state: str | None = '{"global_step": 1}', adapter: bool = True):
        folder = tmp_path / f"checkpoint-{step}"
        folder.mkdir()
        for name in ("optimizer.pt", "scheduler.pt"):
            (folder / name).write_bytes(b"x")
        if adapter:
            (folder / "adapter_model.safetensors").write_bytes(b"x")
        if state is not None:
            (folder / "trainer_state.json").write_text(state)

    assert latest_complete_checkpoint(tmp_path) is None
    checkpoint(2)
    checkpoint(3, state='{"global_st')  # cut off while the Trainer wrote its state, the last file it writes
    checkpoint(4, state=None)
    checkpoint(5, adapter=False)
    assert latest_complete_checkpoint(tmp_path).name == "checkpoint-2"
    out = capsys.readouterr().out
    assert "Skipping checkpoint-5: half-written (no adapter_model.safetensors)" in out
    assert "checkpoint-4: half-written (no trainer_state.json)" in out
    assert "checkpoint-3: half-written (no readable trainer_state.json)" in out
