"""Keep freed memory in the process heap while training, on huge pages (glibc, Linux).

A training step allocates and frees the same large buffers (activations, gradients, Adam
temporaries) every step. With glibc's defaults, blocks above the mmap threshold get their own
mapping and go back to the kernel when freed, and the top of the heap is trimmed; the next step
then touches fresh pages, and each 4 KiB page costs a page fault and a zeroing. Measured on the
campaign's network at one thread: about 70 000 minor faults and 0.1 s in the kernel per step
of 0.53 s (``tools/bench_heap.py``; docs/training.md, "Memory allocator").

:func:`retain_freed_memory` tells glibc to serve every allocation from the heap
(``M_MMAP_MAX = 0``), never to trim it (``M_TRIM_THRESHOLD``) and to grow it in large steps
(``M_TOP_PAD``): after the first steps, training reuses its own pages. The cost is that the
process keeps its peak footprint until it exits, which a training process does anyway. The
settings are process-wide and cannot be undone; training applies them when the config's
``retain_freed_memory`` is true (the default). Elsewhere (not Linux with glibc) it does nothing.

:func:`advise_huge_pages` sets ``THP_MEM_ALLOC_ENABLE=1`` (unless the variable is set), which
makes torch align its CPU blocks of 2 MiB and more to 2 MiB and advise transparent huge pages
for them: fewer TLB misses on the large tensors. Torch reads the variable once, at its first
CPU allocation, so the training entry points (``rdcodec train``, the experiment drivers) call it
before anything imports torch; this module imports nothing that does.

The same two from outside a process, for any program: the environment variable
``GLIBC_TUNABLES`` set to :data:`GLIBC_TUNABLES` before it starts (glibc also puts its own heap
on huge pages then).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import platform

# <malloc.h>
M_TRIM_THRESHOLD = -1
M_TOP_PAD = -2
M_MMAP_MAX = -4

TRIM_THRESHOLD = 2**31 - 1  # the largest value mallopt's int takes: in effect, never trim
TOP_PAD = 256 * 2**20

#: glibc's tunables for the same idea, set from outside a process (mmap_threshold at its maximum)
GLIBC_TUNABLES = (
    "glibc.malloc.hugetlb=1:glibc.malloc.mmap_threshold=33554432:"
    f"glibc.malloc.trim_threshold=17179869184:glibc.malloc.top_pad={TOP_PAD}"
)

_applied: bool | None = None


def _libc():
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
        libc.mallopt.restype = ctypes.c_int
        return libc
    except (OSError, AttributeError):
        return None


def retain_freed_memory() -> bool:
    """Apply the settings above once per process; True where glibc accepted all of them."""
    global _applied
    if _applied is None:
        libc = _libc()
        _applied = libc is not None and all(
            libc.mallopt(option, value) == 1
            for option, value in ((M_MMAP_MAX, 0), (M_TRIM_THRESHOLD, TRIM_THRESHOLD), (M_TOP_PAD, TOP_PAD))
        )
    return _applied


def advise_huge_pages() -> None:
    """Ask torch for huge pages on its large CPU blocks (effective before its first allocation)."""
    os.environ.setdefault("THP_MEM_ALLOC_ENABLE", "1")
