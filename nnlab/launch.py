"""What a launcher such as ``torchrun`` tells this process through the environment, read without importing torch.

Every command asks for its rank before it does any work (under torchrun only rank 0 prints), so these
readers live here, below everything, rather than in :mod:`nnlab.distributed`, which imports torch and
re-exports them.
"""

from __future__ import annotations

import os


def launched() -> bool:
    """Whether this process was started by torchrun (or another launcher that sets ``RANK`` and ``WORLD_SIZE``)."""
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ


def env_rank() -> int:
    """This process's rank as the launcher announced it (0 outside torchrun); readable before the group exists."""
    return int(os.environ.get("RANK", "0")) if launched() else 0


def env_world_size() -> int:
    """The number of processes the launcher started (1 outside torchrun)."""
    return int(os.environ.get("WORLD_SIZE", "1")) if launched() else 1


def env_local_rank() -> int:
    """This process's rank on its machine (``LOCAL_RANK``; 0 when unset), which picks its CUDA device."""
    return int(os.environ.get("LOCAL_RANK", "0"))
