"""Keep the notebooks' output to what a learner can act on: known library noise is silenced narrowly, by name.

Each entry says where the message comes from and why nobody following the course can act on it. The setup cell
calls quiet_known_noise(); tests/test_core_walk.py scans every executed notebook's stderr and fails on any
warning that is neither a progress bar nor one of ALLOWED_STDERR.
"""

from __future__ import annotations

import logging
import re
import warnings

# (category, message regex, why): Python warnings filtered out in the notebook kernel.
SILENCED_WARNINGS = [
    (FutureWarning, r"`is_gradient_checkpointing` is deprecated",
     "PEFT 0.21 reads transformers' deprecated attribute inside get_peft_model and prepare_model_for_kbit_training; "
     "the course's own code uses activation_checkpointing"),
    (FutureWarning, r"Specifying null_placement in SortOptions is deprecated",
     "datasets 5.2 sorts (Dataset.sort, notebook 07's length-sorted evaluation) with an option pyarrow 25 deprecates"),
]

# (logger name, message substring, why): log records dropped.
SILENCED_LOG_RECORDS = [
    ("bitsandbytes.backends.cpu.ops", "Failed to load CPU gemm_4bit_forward from kernels-community",
     "bitsandbytes 0.50 on a CPU with AVX512-BF16 looks for an optional faster kernel package (`kernels`) at import; "
     "without it bitsandbytes uses its own CPU kernel, with the same results"),
]

# Lines on a notebook's stderr that may stay, each with the reason (the test reads this list).
ALLOWED_STDERR = [
    # Papermill and ipykernel print nothing else into cells; nothing is allowed yet beyond progress bars.
]

PROGRESS_BAR = re.compile(r"\d+%\|.*\|\s*\d+/\d+|^\s*$")


class _DropMessage(logging.Filter):
    def __init__(self, substring: str):
        super().__init__()
        self.substring = substring

    def filter(self, record: logging.LogRecord) -> bool:
        return self.substring not in record.getMessage()


def quiet_known_noise() -> None:
    """Install the filters above (idempotent) and turn off datasets' per-step progress bars.

    SFTTrainer draws five `datasets` bars per data set it prepares (adding EOS, tokenizing, building labels,
    truncating, dropping empty examples); they finish in well under a second here and bury the lines that
    matter. Our own data steps print one summary line each instead.
    """
    for category, pattern, _why in SILENCED_WARNINGS:
        warnings.filterwarnings("ignore", message=pattern, category=category)
    for name, substring, _why in SILENCED_LOG_RECORDS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, _DropMessage) and f.substring == substring for f in logger.filters):
            logger.addFilter(_DropMessage(substring))
    from datasets.utils.logging import disable_progress_bar

    disable_progress_bar()


def unexpected_stderr(notebook: dict) -> list[str]:
    """The stderr lines of an executed notebook (nbformat dict) that are neither progress bars nor allowed."""
    lines = []
    for index, cell in enumerate(notebook["cells"]):
        for output in cell.get("outputs", []):
            if output.get("output_type") != "stream" or output.get("name") != "stderr":
                continue
            text = output["text"] if isinstance(output["text"], str) else "".join(output["text"])
            for line in re.split(r"[\r\n]", text):
                if PROGRESS_BAR.search(line) or any(re.search(pattern, line) for pattern, _why in ALLOWED_STDERR):
                    continue
                lines.append(f"cell {index}: {line.strip()[:200]}")
    return lines
