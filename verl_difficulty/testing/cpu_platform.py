"""A ``cpu`` platform for verl 0.9.1, so its torchrun trainers (SFT) run on a machine without accelerators.

verl 0.9.1 knows the ``nvidia``, ``npu`` and ``rocm`` platforms only and falls back to ``nvidia`` when none is
found, so on a CPU-only machine ``initialize_global_process_group`` asks for NCCL and calls
``torch.cuda.set_device``. This module registers a ``cpu`` platform (gloo collectives, ``torch.cpu`` as the
device module) with verl's own :class:`~verl.plugin.platform.platform_manager.PlatformRegistry`.

It is a test and demo helper, not a way to train real models: use it as ::

    VERL_PLATFORM=cpu VERL_USE_EXTERNAL_MODULES=verl_difficulty.testing.cpu_platform \\
      torchrun --nproc_per_node=1 -m verl.trainer.sft_trainer trainer.device=cpu ...

Importing it registers the platform; it never selects it (``VERL_PLATFORM=cpu`` does). verl builds its
process-group backend string as ``cpu:gloo,<device>:<backend>``, which torch rejects when the device is ``cpu``
too, so on this platform :func:`verl.utils.distributed.initialize_global_process_group` is wrapped to ask for
plain ``gloo`` (other platforms call verl's function unchanged).
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from datetime import timedelta
from types import ModuleType
from typing import Any

import torch
import verl.utils.distributed as _verl_distributed
from verl.plugin.platform.platform_base import PlatformBase
from verl.plugin.platform.platform_manager import PlatformRegistry, get_platform

__all__ = ["PlatformCPU", "cpu_device_module"]


class _CPUDeviceModule(ModuleType):
    """``torch.cpu`` plus the ``torch.cuda`` memory / RNG functions verl calls, as no-ops or host values."""

    def __init__(self):
        super().__init__("verl_difficulty.testing.cpu_device")

    def __getattr__(self, name: str):
        return getattr(torch.cpu, name)

    @staticmethod
    def _zero(*args, **kwargs) -> int:
        return 0

    memory_allocated = memory_reserved = max_memory_allocated = max_memory_reserved = _zero

    @staticmethod
    def _none(*args, **kwargs) -> None:
        return None

    empty_cache = ipc_collect = reset_peak_memory_stats = reset_accumulated_memory_stats = _none
    set_per_process_memory_fraction = synchronize = set_device = _none

    @staticmethod
    def mem_get_info(*args, **kwargs) -> tuple[int, int]:
        import psutil

        vm = psutil.virtual_memory()
        return int(vm.available), int(vm.total)

    @staticmethod
    def get_rng_state(*args, **kwargs):
        return torch.get_rng_state()

    @staticmethod
    def set_rng_state(state, *args, **kwargs) -> None:
        torch.set_rng_state(state)

    @staticmethod
    def get_device_name(*args, **kwargs) -> str:
        return "cpu"

    @staticmethod
    def is_available() -> bool:
        return True

    @staticmethod
    def device_count() -> int:
        return 1

    @staticmethod
    def current_device() -> torch.device:
        return torch.device("cpu")


#: what ``get_torch_device()`` returns on the ``cpu`` platform
cpu_device_module = _CPUDeviceModule()


@PlatformRegistry.register(platform="cpu")
class PlatformCPU(PlatformBase):
    """Plain CPU: gloo for collectives, no device memory, no profiler ranges."""

    @property
    def device_name(self) -> str:
        return "cpu"

    @property
    def vendor_name(self) -> str:
        return "cpu"

    @property
    def device_module(self) -> ModuleType:
        return cpu_device_module

    def is_available(self) -> bool:
        return True

    def is_platform_available(self, use_smi_check: bool = False) -> bool:
        # Never auto-detected: only chosen explicitly with VERL_PLATFORM=cpu.
        return False

    def current_device(self) -> torch.device:
        # verl passes this to ``.to(...)``, ``FSDP(device_id=...)`` and ``torch.device(...)``; an int would mean cuda.
        return torch.device("cpu")

    def device_count(self) -> int:
        return 1

    def set_device(self, device_index: int) -> None:
        return None

    def synchronize(self, device_index: int | None = None) -> None:
        return None

    def manual_seed(self, seed: int) -> None:
        torch.manual_seed(seed)

    def manual_seed_all(self, seed: int) -> None:
        torch.manual_seed(seed)

    def set_allocator_settings(self, settings: str) -> None:
        return None

    def empty_cache(self) -> None:
        return None

    def get_device_capability(self, device_index: int = 0) -> tuple[int | None, int | None]:
        return None, None

    def communication_backend_name(self) -> str:
        return "gloo"

    def visible_devices_envvar(self) -> str:
        return "CUDA_VISIBLE_DEVICES"

    def ray_resource_name(self) -> str:
        return "CPU"

    def ray_resource_options(self, num_gpus: float) -> dict[str, Any]:
        return {"num_cpus": num_gpus}

    def ray_noset_envvars(self) -> list[str]:
        return []

    def is_ipc_supported(self) -> bool:
        return False

    @contextmanager
    def nvtx_range(self, msg: str):
        yield

    def profiler_start(self) -> None:
        return None

    def profiler_stop(self) -> None:
        return None

    def cudart(self) -> Any:
        return None


_original_initialize = _verl_distributed.initialize_global_process_group


def initialize_global_process_group(timeout_second: int = 36000):
    """verl's ``initialize_global_process_group`` with a plain ``gloo`` backend on the ``cpu`` platform."""
    if get_platform().device_name != "cpu":
        return _original_initialize(timeout_second)
    torch.distributed.init_process_group(
        backend="gloo",
        timeout=timedelta(seconds=timeout_second),
        init_method=os.environ.get("DIST_INIT_METHOD", None),
    )
    return int(os.environ["LOCAL_RANK"]), int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])


if getattr(_verl_distributed.initialize_global_process_group, "__module__", "") != __name__:
    _verl_distributed.initialize_global_process_group = initialize_global_process_group
