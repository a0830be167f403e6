"""Memory and speed of a training run: peak memory on a GPU or a CPU, and one wrapper around trainer.train()."""

from __future__ import annotations

import ctypes
import gc
import resource
import sys
import threading
import time
from contextlib import contextmanager

import psutil
import torch


def reset_peak_memory() -> None:
    """Start a fresh peak-memory measurement (GPU only; a process's CPU peak cannot be reset)."""
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()


def peak_memory_mb() -> tuple[float, str]:
    """Peak memory in MB and what was measured: GPU allocations, or this process's peak RSS on a CPU."""
    if torch.cuda.is_available():
        return torch.cuda.max_memory_allocated() / 2**20, "GPU peak allocated"
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    scale = 1 if sys.platform == "darwin" else 1024  # bytes on macOS, KiB on Linux
    return peak * scale / 2**20, "process peak RSS (CPU)"


def _release_free_heap() -> None:
    """Hand memory that Python and torch already freed back to the OS (glibc only), so RSS starts honest."""
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL("libc.so.6").malloc_trim(0)
        except (OSError, AttributeError):  # musl or another libc: RSS just starts higher
            pass


class MemoryTracker:
    """Peak memory used inside a `with` block, above what was in use when it started.

    On a GPU: the CUDA allocator's peak (reset on entry). On a CPU: the process's resident memory,
    sampled every few milliseconds by a background thread (a process's own peak RSS cannot be reset,
    so this is how several runs in one process get one figure each). Freed heap memory is handed back
    to the OS first (malloc_trim on Linux) so it is not silently reused; CPU figures remain approximate.
    """

    def __init__(self, interval_s: float = 0.005):
        self.interval_s = interval_s
        self.peak_mb = 0.0
        self.kind = "GPU peak allocated" if torch.cuda.is_available() else "peak RSS above start (CPU)"

    @staticmethod
    def _rss_mb() -> float:
        return psutil.Process().memory_info().rss / 2**20

    def _sample(self) -> None:
        while not self._stop.is_set():
            self._peak = max(self._peak, self._rss_mb())
            self._stop.wait(self.interval_s)

    def __enter__(self) -> MemoryTracker:
        gc.collect()
        _release_free_heap()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
            self._start = torch.cuda.memory_allocated() / 2**20
        else:
            self._start = self._peak = self._rss_mb()
            self._stop = threading.Event()
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        if torch.cuda.is_available():
            peak = torch.cuda.max_memory_allocated() / 2**20
        else:
            self._stop.set()
            self._thread.join()
            peak = max(self._peak, self._rss_mb())
        self.peak_mb = round(peak - self._start, 1)


@contextmanager
def measure_training(trainer):
    """Measure the `trainer.train()` call made inside the block; the yielded dict is filled when the block ends.

        with measure_training(trainer) as train_metrics:
            trainer.train()

    It gets wall time, steps, the training loss Trainer reports, tokens per second (prompt and completion,
    padding excluded: SFTConfig(include_num_input_tokens_seen="non_padding")) and peak memory, and prints one line.
    """
    result: dict = {}
    reset_peak_memory()
    tokens_before = trainer.state.num_input_tokens_seen or 0
    started = time.perf_counter()
    yield result
    seconds = time.perf_counter() - started
    tokens = (trainer.state.num_input_tokens_seen or 0) - tokens_before
    memory, memory_kind = peak_memory_mb()
    final_loss = next((entry["train_loss"] for entry in reversed(trainer.state.log_history) if "train_loss" in entry),
                      float("nan"))
    result.update({
        "train_seconds": round(seconds, 1),
        "steps": trainer.state.global_step,
        "train_loss": round(float(final_loss), 4),
        "tokens_seen": int(tokens),
        "tokens_per_second": round(tokens / seconds, 1) if seconds else 0.0,
        "peak_memory_mb": round(memory, 1),
        "peak_memory_kind": memory_kind,
    })
    print(
        f"Trained {result['steps']} steps in {seconds:.0f} s: {result['tokens_per_second']:.0f} tokens/s "
        f"(prompt + completion, no padding), peak memory {memory:.0f} MB ({memory_kind})."
    )
