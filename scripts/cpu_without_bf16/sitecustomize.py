"""Simulate a CPU without native bf16 on one that has it: `PYTHONPATH=$PWD/scripts/cpu_without_bf16 make test`.

The path must be absolute: the notebooks' kernels start in other folders, where a relative one finds nothing
(and they would run on this CPU's bf16 while the tests expect fp32: tests/test_core_walk.py notices).

Python imports `sitecustomize` at start-up from the path, in every process that inherits PYTHONPATH: the test
workers, the notebooks' kernels, `accelerate launch`'s processes. Here torch then reports neither AMX nor
AVX512-BF16, so `helpers.hardware.detect_hardware` chooses fp32, as on such a CPU, and everything runs in fp32.
The matmul rate stays this CPU's fp32 rate: it measures the fp32 path's time on this machine, not another
machine's. docs/performance.md ("Setup and the test suite") has what it measured.
"""

import importlib.abc
import importlib.util
import sys


def _no_native_bf16(module):
    module._is_amx_tile_supported = lambda: False
    module._is_avx512_bf16_supported = lambda: False


class _AfterTorchCpu(importlib.abc.MetaPathFinder):
    """Finds nothing itself: wraps the loading of `torch.cpu` to switch its bf16 probes off."""

    def find_spec(self, name, path, target=None):
        if name != "torch.cpu":
            return None
        sys.meta_path.remove(self)
        try:
            spec = importlib.util.find_spec(name)
        finally:
            sys.meta_path.insert(0, self)
        load = spec.loader.exec_module

        def exec_module(module):
            load(module)
            _no_native_bf16(module)

        spec.loader.exec_module = exec_module
        return spec


sys.meta_path.insert(0, _AfterTorchCpu())
