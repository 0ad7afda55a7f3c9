"""Giving the models' freed memory back to the system (glibc only; a no-op elsewhere).

Every graded answer allocates the two models' activations, a few MB to tens of MB per batch,
on whichever job thread ran it. glibc keeps freed blocks in that thread's heap for reuse and
rarely returns them: measured with bench_serve.py, the served process grew past 1 GB after a
few dozen answers, most of it free memory. `malloc_trim(0)` after each job hands it back
(since glibc 2.8 it also releases free pages inside every thread's heap), at the cost of a
millisecond or so. Fixing the mmap threshold instead also held memory down, but every
large tensor then cost a fresh mmap and its page faults: about 40% fewer answers per second.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from collections.abc import Callable

M_ARENA_MAX = -8  # mallopt's parameter number for it, from glibc's malloc.h


def trimmer() -> Callable[[], None]:
    """A function that returns the process's free heap memory to the system."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim = libc.malloc_trim
    except (OSError, AttributeError):
        return lambda: None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return lambda: trim(0)


def limit_arenas(count: int) -> bool:
    """Let glibc keep at most `count` heaps ("arenas") for all threads; call it before the
    threads start. By default glibc gives each allocating thread a heap of its own, up to 8
    per core, and a freed block stays in the heap it came from: measured with bench_serve.py
    (50 people x 20 answers, the embedder's runs side by side), 2 arenas held the peak at
    396 MB against 436 MB with glibc's default, at the same answers per second
    (docs/serving.md). True when glibc took it."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return mallopt(M_ARENA_MAX, max(1, count)) == 1
