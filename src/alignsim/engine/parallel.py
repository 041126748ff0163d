"""Parallel batch maps for ``ensemble.run_ensemble``: a local process pool and a Dask cluster.

Both implement ``map_batches(scenario, draw_table, replicates, seed, tasks)`` and yield
``(k, BatchResult)`` as batches finish, in any order. A batch's numbers depend only on its
replicate range (counter-based streams, integer quarter totals), so the merged result is
identical, number for number, to the single-process run with the same seed.

- ``LocalPool``: one ``ProcessPoolExecutor`` with an explicit ``multiprocessing`` context
  (Mesa 3.3 forces "spawn" globally on import; we never rely on the global default). The pool
  is created once and reused by every batch and every ``run_ensemble`` call made through it, so
  the interpreter start-up and the Mesa import are paid once per worker, not once per batch.
  It is the one process pool of the package: sweeps and sensitivity analyses submit their
  chunks of points to it too (``LocalPool.submit``, ``analyses.sweep.PointRunner``).
  Its workers die with the process that made the pool: each runs a watchdog thread on that
  process (``_watch_parent``: a Linux pidfd that becomes readable when the process ends, else
  polling its pid), and exits at once when it is gone, also after ``kill -9``.
- ``DaskPool``: batches submitted to a ``dask.distributed`` cluster: the scheduler at
  ``scheduler`` (``tcp://host:8786``) or a ``LocalCluster`` started for the run. The scenario
  and draw table are sent to the workers once per ensemble (``Client.scatter``).
  The worker processes of a ``LocalCluster`` are started by nannies living in this process;
  distributed's ``AsyncProcess`` gives each child a pipe from its parent and a thread that exits
  the child when the pipe closes, so they too end with this process. Workers of a remote
  scheduler are not ours: they outlive the client by design.

At most ``window`` batches are in flight at a time, so memory stays flat however many batches
the run has.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import pickle
import select
import threading
import time
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

import pandas as pd

from alignsim.errors import ConfigError, RunError
from alignsim.scenario import Scenario

BACKENDS = ("local", "dask")

# Per worker process: the last unpickled (scenario, draw_table), keyed by the payload's digest.
# This is a cache inside pool workers only (never read in the parent), so each worker unpickles
# an ensemble's inputs once instead of once per batch.
_WORKER_CACHE: dict[str, tuple] = {}


def _warm() -> int:
    """Import the engine (and Mesa) in a worker; returns the worker's process id."""
    from alignsim.engine import ensemble  # noqa: F401  (the import is the point)

    return os.getpid()


WATCH_SECONDS = 0.5  # how often a worker polls its parent where there is no pidfd


def _watch_parent(parent_pid: int) -> None:
    """Pool worker initializer: exit this worker as soon as process ``parent_pid`` has ended.

    A daemon thread waits on a pidfd of the parent (Linux >= 5.3: readable once the parent has
    terminated, even before it is reaped); elsewhere it polls ``os.kill(pid, 0)``. The exit is
    ``os._exit``: nothing of a dead parent's run is worth flushing.
    """
    try:
        fd = os.pidfd_open(parent_pid)
    except ProcessLookupError:
        os._exit(1)
    except (AttributeError, OSError):
        fd = None

    def wait_pidfd() -> None:
        select.select([fd], [], [])
        os._exit(1)

    def poll_pid() -> None:
        while True:
            time.sleep(WATCH_SECONDS)
            try:
                os.kill(parent_pid, 0)
            except ProcessLookupError:
                os._exit(1)
            except PermissionError:
                pass

    threading.Thread(target=wait_pidfd if fd is not None else poll_pid, name="alignsim-watch-parent",
                     daemon=True).start()


def _peak_rss_mb() -> float:
    """This process's peak resident memory in MB (Linux reports ru_maxrss in KB)."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _usage() -> tuple[int, float, float]:
    """(process id, peak resident MB, CPU seconds user + system) of this worker."""
    import resource

    r = resource.getrusage(resource.RUSAGE_SELF)
    time.sleep(0.05)  # hold this worker, so the other workers answer the other probes
    return os.getpid(), r.ru_maxrss / 1024, r.ru_utime + r.ru_stime


def _pool_task(digest: str, payload: bytes, replicates: int, seed: int, k: int, start: int, stop: int,
               outcomes_only: bool = False):
    from alignsim.engine.ensemble import run_batch

    if digest not in _WORKER_CACHE:
        _WORKER_CACHE.clear()
        _WORKER_CACHE[digest] = pickle.loads(payload)
    scenario, draw_table = _WORKER_CACHE[digest]
    return k, run_batch(scenario, draw_table, replicates, seed, start, stop, outcomes_only)


def _windowed(submit, tasks: list[tuple[int, int, int]], window: int, wait_any) -> Iterator:
    """Submit ``tasks`` keeping at most ``window`` in flight; yield finished futures' results."""
    pending = list(tasks)[::-1]
    running: set = set()
    while pending or running:
        while pending and len(running) < window:
            running.add(submit(*pending.pop()))
        finished, running = wait_any(running)
        for fut in finished:
            yield fut.result()


def default_start_method() -> str:
    """"forkserver" where the platform has it (fast worker start, no inherited threads), else "spawn"."""
    return "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"


class LocalPool:
    """A reusable local process pool (the package's one pool, for runs, sweeps and sensitivity).

    Args:
        workers: number of worker processes (>= 1).
        start_method: "spawn", "forkserver" or "fork"; default ``default_start_method()``.
        window: batches in flight at once (default 2 x workers).

    Use as a context manager, or call ``close()``. ``startup_seconds`` is the time taken to
    start every worker and import the engine in it (measured when the workers start).
    ``renew()`` replaces every worker by a fresh one (a long analysis calls it now and then, so
    memory left behind in workers stays bounded; ``max_tasks_per_child`` of Python 3.11's
    executor can deadlock, so it is not used).
    """

    def __init__(self, workers: int, start_method: str | None = None, window: int | None = None) -> None:
        if int(workers) < 1:
            raise ConfigError("workers", workers, "a whole number >= 1")
        self.workers = int(workers)
        self.start_method = start_method or default_start_method()
        if self.start_method not in multiprocessing.get_all_start_methods():
            raise ConfigError("start_method", self.start_method,
                              f"one of {multiprocessing.get_all_start_methods()}")
        self._ctx = multiprocessing.get_context(self.start_method)
        if self.start_method == "forkserver":
            self._ctx.set_forkserver_preload(["alignsim.engine.ensemble"])
        self.window = int(window) if window else 2 * self.workers
        self._start()

    def _start(self) -> None:
        """Start every worker now (and import the engine there), so no task pays for it."""
        started = time.perf_counter()
        self._pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=self._ctx,
                                         initializer=_watch_parent, initargs=(os.getpid(),))
        pids = set()
        while len(pids) < self.workers:
            futs = [self._pool.submit(_warm) for _ in range(self.workers)]
            pids |= {f.result() for f in futs}
            if len(pids) < self.workers:
                time.sleep(0.01)
        self.startup_seconds = time.perf_counter() - started

    def renew(self) -> None:
        """Replace every worker by a fresh one (waits for running tasks)."""
        self._pool.shutdown(wait=True)
        self._start()

    def submit(self, fn, /, *args):
        """Run ``fn(*args)`` in a worker (``fn`` importable by name); returns its future."""
        return self._pool.submit(fn, *args)

    def map_batches(self, scenario: Scenario, draw_table: pd.DataFrame, replicates: int, seed: int,
                    tasks: list[tuple[int, int, int]], outcomes_only: bool = False) -> Iterator:
        """Run ``tasks`` ((k, start, stop) each) in the pool; yields (k, BatchResult) as they finish."""
        payload = pickle.dumps((scenario, draw_table), protocol=pickle.HIGHEST_PROTOCOL)
        digest = hashlib.sha256(payload).hexdigest()
        submit = lambda k, a, b: self._pool.submit(  # noqa: E731
            _pool_task, digest, payload, int(replicates), int(seed), k, a, b, outcomes_only)
        yield from _windowed(submit, tasks, self.window, lambda fs: wait(fs, return_when=FIRST_COMPLETED))

    def worker_peak_mb(self) -> float:
        """The largest peak resident memory (MB) among the workers that answer (for benchmarks)."""
        return max(f.result() for f in [self._pool.submit(_peak_rss_mb) for _ in range(4 * self.workers)])

    def worker_usage(self) -> dict[int, tuple[float, float]]:
        """Per worker process id: (peak resident MB, CPU seconds so far), for benchmarks."""
        answers = [f.result() for f in [self._pool.submit(_usage) for _ in range(4 * self.workers)]]
        return {pid: (mb, cpu) for pid, mb, cpu in answers}

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> "LocalPool":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _dask_task(inputs: tuple, replicates: int, seed: int, k: int, start: int, stop: int,
               outcomes_only: bool = False):
    from alignsim.engine.ensemble import run_batch

    scenario, draw_table = inputs
    return k, run_batch(scenario, draw_table, replicates, seed, start, stop, outcomes_only)


class DaskPool:
    """Batches on a Dask cluster.

    Args:
        scheduler: address of a running scheduler (e.g. ``tcp://10.0.0.5:8786``); its workers
            need ``alignsim`` installed (same version). ``None`` starts a ``LocalCluster``.
        workers: worker processes of the ``LocalCluster`` (ignored with ``scheduler``).
        window: batches in flight at once (default 2 x the cluster's worker threads).
    """

    def __init__(self, scheduler: str | None = None, workers: int | None = None,
                 window: int | None = None, timeout: float = 20.0) -> None:
        try:
            from dask.distributed import Client, LocalCluster
        except ImportError:
            raise ConfigError("--backend", "dask", "an installed Dask: pip install 'alignsim[dask]'") from None

        started = time.perf_counter()
        self.cluster = None
        if scheduler:
            try:
                self.client = Client(scheduler, timeout=f"{timeout}s")
            except (OSError, TimeoutError, ValueError) as exc:
                raise RunError(f"--scheduler {scheduler}: could not connect to a Dask scheduler "
                               f"({type(exc).__name__}); expected the address of a running "
                               "scheduler, e.g. tcp://host:8786") from None
        else:
            n = int(workers or os.cpu_count() or 1)
            if n < 1:
                raise ConfigError("workers", workers, "a whole number >= 1")
            self.cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                                        dashboard_address=None)
            self.client = Client(self.cluster)
        self.client.run(_warm)
        threads = sum(self.client.nthreads().values()) or 1
        self.window = int(window) if window else 2 * threads
        self.startup_seconds = time.perf_counter() - started

    def map_batches(self, scenario: Scenario, draw_table: pd.DataFrame, replicates: int, seed: int,
                    tasks: list[tuple[int, int, int]], outcomes_only: bool = False) -> Iterator:
        """Submit ``tasks`` to the cluster; yields (k, BatchResult) as they finish."""
        from dask.distributed import wait as dask_wait

        inputs = self.client.scatter((scenario, draw_table), broadcast=True)

        def submit(k: int, a: int, b: int):
            return self.client.submit(_dask_task, inputs, int(replicates), int(seed), k, a, b,
                                      outcomes_only, pure=False)

        def wait_any(fs):
            done = dask_wait(fs, return_when="FIRST_COMPLETED")
            return done.done, done.not_done

        yield from _windowed(submit, tasks, self.window, wait_any)

    def close(self) -> None:
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()

    def __enter__(self) -> "DaskPool":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def open_pool(backend: str = "local", workers: int | None = None, scheduler: str | None = None):
    """The pool for a run, or ``None`` to run batches in this process.

    ``backend="local"`` with ``workers`` None or 1 runs in-process; more workers give a
    ``LocalPool``. ``backend="dask"`` gives a ``DaskPool`` (``scheduler`` or a LocalCluster).
    """
    if backend not in BACKENDS:
        raise ConfigError("backend", backend, f"one of {', '.join(BACKENDS)}")
    if workers is not None and int(workers) < 1:
        raise ConfigError("workers", workers, "a whole number >= 1")
    if scheduler and backend != "dask":
        raise ConfigError("scheduler", scheduler, "--backend dask (a scheduler address is for Dask only)")
    if backend == "dask":
        return DaskPool(scheduler, workers)
    if workers is None or int(workers) == 1:
        return None
    return LocalPool(int(workers))
