"""The benchmarks' one way to time code: per-call seconds of bounded loops, functions timed
round by round (alternating, so load from elsewhere falls on all of them alike), and one timed
call that keeps its result."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


def timed(fn: Callable[[], T]) -> tuple[T, float]:
    """fn's result and the seconds it took."""
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def per_call(fn: Callable[[], Any], loops: int = 1) -> float:
    """Seconds per call over `loops` calls."""
    start = time.perf_counter()
    for _ in range(loops):
        fn()
    return (time.perf_counter() - start) / loops


def loops_for(fn: Callable[[], Any], budget_seconds: float, cap: int = 20_000) -> int:
    """How many calls fit in `budget_seconds` (bounded), timed after a warm-up call: the first
    call pays lazy imports and caches, and sized on it the loops came out so short that one
    scheduler hiccup moved a median by 30%."""
    fn()
    one = max(per_call(fn, 5), 1e-6)
    return max(20, min(cap, int(budget_seconds / one)))


def alternating_rounds(timed_loops: list[tuple[Callable[[], Any], int]], rounds: int) -> list[list[float]]:
    """Per-call seconds of each (function, loops), round by round: each round times every
    function in turn; take the median of each list."""
    seconds: list[list[float]] = [[] for _ in timed_loops]
    for _ in range(rounds):
        for (fn, loops), out in zip(timed_loops, seconds):
            out.append(per_call(fn, loops))
    return seconds


def interleaved_rounds(budgets: list[tuple[Callable[[], Any], float]], rounds: int = 25) -> list[list[float]]:
    """alternating_rounds with each function's loops sized to its time budget, so a path and its
    floor, or every provider's sample, are measured under the same load."""
    loops = [loops_for(fn, budget / rounds, cap=50_000) for fn, budget in budgets]
    return alternating_rounds([(fn, n) for (fn, _), n in zip(budgets, loops)], rounds)
