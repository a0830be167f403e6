"""Warn, before `make setup` installs anything, when the disk is too small for the course.

A first setup with pip's default (CUDA) build of torch fills about 7 GB in `.venv` and a `make test` run
writes about 3 GB more to the temporary folder (a fresh clone took 10.4 GB in all, docs/setup.md, "Disk").
Without the room, pip stops half way with `No space left on device`. This only warns: it never fails the
setup, since a machine with torch already installed or a CPU-only torch needs less. Standard library only:
it runs with the system's Python, before the virtual environment exists.

    python3 scripts/check_disk.py [FOLDER]
"""

from __future__ import annotations

import shutil
import sys

NEEDED_GB = 12


def warning(free_bytes: int, needed_gb: int = NEEDED_GB) -> str | None:
    """The warning to print for `free_bytes` free on the project's disk, or None when there is room."""
    free_gb = free_bytes / 1024**3
    if free_gb >= needed_gb:
        return None
    return (
        f"Warning: {free_gb:.1f} GB free on this disk, under the {needed_gb} GB a first setup and test run "
        "can take (the default CUDA build of torch fills about 7 GB, a test run writes about 3 GB more). "
        "If pip stops with 'No space left on device', free some room; see docs/setup.md, 'Disk'."
    )


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    folder = args[0] if args else "."
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        return 0
    message = warning(free)
    if message:
        print(message, file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
