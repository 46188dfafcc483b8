"""One pool of local worker processes for a command: tear sheets, whole runs, sweep points, walk-forward folds.

A command makes one pool and hands it to every step that can use it, so the processes are started
(and their imports paid) once, not once per fold or per run. Workers are forked where the platform
can (they inherit the modules and data the parent has loaded) and may be warmed with imports while
the parent computes. Nothing here changes a result: a task gives the same output in a worker as in
the parent.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor, as_completed


def _context():
    """fork where the platform has it (workers inherit what the parent loaded), else the default."""
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("fork" if "fork" in methods and os.name == "posix" else None)


def warm_for_charts() -> None:
    """What a worker that draws tear sheets imports before its first one (a fixed list: no names from data)."""
    import matplotlib.pyplot  # noqa: F401
    import quantstats  # noqa: F401


def useful_workers(jobs: int, tasks: int) -> int:
    """Never more workers than tasks, never fewer than one."""
    return max(1, min(int(jobs), int(tasks)))


class LocalPool:
    """A ProcessPoolExecutor of `jobs` workers, started on first use; usable as a context manager.

    charts: each worker imports what tear sheets need as soon as it starts (warm_for_charts), while
    the parent goes on with its own work.
    """

    def __init__(self, jobs: int, charts: bool = False):
        self.jobs = max(1, int(jobs))
        self.charts = charts
        self._executor: ProcessPoolExecutor | None = None

    def start(self) -> "LocalPool":
        if self._executor is None:
            self._executor = ProcessPoolExecutor(max_workers=self.jobs, mp_context=_context())
            if self.charts:
                for _ in range(self.jobs):
                    self._executor.submit(warm_for_charts)
        return self

    def submit(self, fn: Callable, *args, **kwargs) -> Future:
        return self.start()._executor.submit(fn, *args, **kwargs)  # type: ignore[union-attr]

    def unordered(self, fn: Callable, tasks: list) -> Iterator:
        """fn(task) for every task, yielded as each finishes; the rest are cancelled if the caller stops."""
        futures = [self.submit(fn, task) for task in tasks]
        try:
            for future in as_completed(futures):
                yield future.result()
        except BaseException:
            for future in futures:
                future.cancel()
            raise

    def ordered(self, fn: Callable, tasks: list) -> Iterator:
        """fn(task) for every task, yielded in the tasks' order."""
        futures = [self.submit(fn, task) for task in tasks]
        try:
            for future in futures:
                yield future.result()
        except BaseException:
            for future in futures:
                future.cancel()
            raise

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None

    def __enter__(self) -> "LocalPool":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
