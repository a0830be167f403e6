"""`make setup` warns, and only warns, when the disk is too small (scripts/check_disk.py)."""

from __future__ import annotations

import subprocess
import sys
from collections import namedtuple
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
import check_disk  # noqa: E402

GB = 1024**3
Usage = namedtuple("Usage", "total used free")


def test_a_small_disk_gets_a_warning_naming_the_free_space_and_the_docs():
    message = check_disk.warning(int(5.5 * GB))
    assert message is not None
    assert "5.5 GB free" in message and "12 GB" in message
    assert "No space left on device" in message and "docs/setup.md" in message


def test_enough_room_gets_no_warning():
    assert check_disk.warning(12 * GB) is None
    assert check_disk.warning(70 * GB) is None


def test_main_warns_on_stderr_and_never_fails(monkeypatch, capsys):
    monkeypatch.setattr(check_disk.shutil, "disk_usage", lambda folder: Usage(100 * GB, 99 * GB, 1 * GB))
    assert check_disk.main(["."]) == 0
    captured = capsys.readouterr()
    assert captured.out == "" and "1.0 GB free" in captured.err


def test_main_stays_silent_when_the_disk_cannot_be_read(monkeypatch, capsys):
    def unreadable(folder):
        raise FileNotFoundError(folder)

    monkeypatch.setattr(check_disk.shutil, "disk_usage", unreadable)
    assert check_disk.main(["/no/such/folder"]) == 0
    assert capsys.readouterr().err == ""


def test_the_makefile_runs_the_check_before_installing_anything():
    recipe = (ROOT / "Makefile").read_text()
    check = recipe.index("scripts/check_disk.py")
    assert check < recipe.index("-m venv") and check < recipe.index("pip install")


def test_the_script_runs_on_its_own_and_exits_0(tmp_path):
    done = subprocess.run([sys.executable, "-I", str(ROOT / "scripts" / "check_disk.py"), str(tmp_path)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
