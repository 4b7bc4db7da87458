"""Running many trials: skip the stored ones, run the rest in parallel, store each at once.

Locally, trials run in a pool of worker processes (one BLAS thread each); with Dask they run
on a distributed cluster (``"local"`` starts a LocalCluster, an address joins a scheduler).
Either way the parent process alone writes to the store, as each trial finishes.

Local workers (pool processes, or a LocalCluster's) exit when their parent dies, even by
``kill -9``: each watches its parent's pid (:func:`exit_with_parent`), so no orphan keeps a
CPU busy, and the multiprocessing resource tracker, which lives until its last client is
gone, follows them.

Trials that differ only in seed and learning rate train together as one batched model
(:func:`~xpnet.experiments.trial.run_trials`, at most ``group_size`` at a time), with
results identical to training them one by one; a group is stored when it finishes.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, ThreadPoolExecutor, wait
from typing import Any

from .. import validate
from ..errors import StudyError
from .plan import Trial
from .store import Store
from .trial import run_trials, shape_of

__all__ = ["GPU_BACKENDS", "default_workers", "exit_with_parent", "run"]

#: ``progress(done, total, trial)`` after each stored trial (the CLI draws a bar with it).
Progress = Callable[[int, int, Trial], None]


#: Worker processes run one BLAS thread each: the workers already fill the CPUs, and extra
#: BLAS threads per process only fight them (several times slower on a 2-core machine).
_ONE_THREAD = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


@contextlib.contextmanager
def _one_thread_children() -> Iterator[None]:
    """Give processes started inside the block one BLAS thread.

    BLAS libraries read these variables once, when they load, and a spawned worker loads
    NumPy while it unpickles its first task, before any initializer could set them; so they
    are set in this process's environment, which the workers inherit, and restored after.
    """
    saved = {name: os.environ.get(name) for name in _ONE_THREAD}
    os.environ.update(_ONE_THREAD)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def exit_with_parent(parent: int | None = None, every: float = 0.5) -> None:
    """Make this (worker) process exit once process ``parent`` (default: its parent now)
    is no longer its parent.

    A daemon thread polls ``os.getppid()``: when the parent dies, the kernel hands its
    children to another process (init, or a subreaper), and the pid changes. Polling works
    on every POSIX system; ``prctl(PR_SET_PDEATHSIG)`` would be immediate but is Linux-only
    and fires when the parent's *thread* that started the worker ends, which in a process
    pool is not the parent's death. (On Windows a parent's pid does not change; workers
    there end when their pipe to the parent breaks.)
    """
    parent = os.getppid() if parent is None else parent

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(every)
        os._exit(1)

    if os.getppid() != parent:
        os._exit(1)
    threading.Thread(target=watch, name="xpnet-exit-with-parent", daemon=True).start()


def run(
    trials: Sequence[Trial],
    store: Store,
    *,
    workers: int | None = None,
    dask: str | None = None,
    progress: Progress | None = None,
    group_size: int = 32,
) -> dict[str, int]:
    """Run every trial not yet in ``store``; return ``{"stored", "ran", "skipped"}``.

    Parameters
    ----------
    workers : int, optional
        Local worker processes (default :func:`default_workers`: the number of CPUs, one
        for trials on a GPU); 1 runs in this process.
    dask : str, optional
        ``"local"`` for a Dask LocalCluster with ``workers`` workers, or a scheduler address
        (``"tcp://host:8786"``).
    group_size : int
        Most trials trained together as one batched model; 1 trains each alone.
    """
    if workers is not None:
        workers = validate.positive_int("workers", workers)
    group_size = validate.positive_int("group_size", group_size)
    done_keys = store.keys()
    pending = [t for t in trials if t.key not in done_keys]
    total, finished = len(trials), len(trials) - len(pending)
    if progress:
        for t in trials:
            if t.key in done_keys:
                progress(finished, total, t)
                break

    def stored(trial: Trial, result: dict[str, Any]) -> None:
        nonlocal finished
        store.add(result)
        finished += 1
        if progress:
            progress(finished, total, trial)

    def stored_group(group: list[Trial], results: Sequence[dict[str, Any]]) -> None:
        for trial, result in zip(group, results, strict=True):
            stored(trial, result)

    n_workers = workers or default_workers(pending)
    groups = _groups(pending, group_size, n_workers)
    if dask:
        _run_dask(groups, dask, n_workers, stored_group)
    elif n_workers == 1 or len(groups) <= 1:
        for group in groups:
            stored_group(group, run_trials(group))
    else:
        # "spawn": fresh interpreters that read the one-thread BLAS setting at start-up
        context = multiprocessing.get_context("spawn")
        pool = None
        # the children already running (a worker started but not yet the pool's, when an
        # interrupt comes while it starts, is one started since)
        before = set(multiprocessing.active_children())
        try:
            with _one_thread_children():  # the workers start as the groups are submitted
                pool = ProcessPoolExecutor(n_workers, mp_context=context,
                                           initializer=exit_with_parent,
                                           initargs=(os.getpid(),))
                futures = {pool.submit(run_trials, g): g for g in groups}
            while futures:
                done, _ = wait(futures, return_when=FIRST_COMPLETED)
                for future in done:
                    stored_group(futures.pop(future), future.result())
        except BaseException:
            # an interrupt (Ctrl-C) or a failed trial: the trials in flight are lost (the
            # stored ones stay; --resume goes on), and the workers stop now rather than
            # finish their groups, which a wait here could wait on for good; so too when
            # the interrupt comes while they start (the pool's exit hook would wait on them)
            if pool is not None:
                _stop(pool, before)
            raise
        pool.shutdown(wait=True)
    return {"stored": finished, "ran": len(pending), "skipped": total - len(pending)}


def _stop(pool: ProcessPoolExecutor, before: set[Any]) -> None:
    """Cancel what ``pool`` has not started, end its worker processes and let it go. Its
    workers are those it lists and the children started since ``before`` (the processes
    running when it was made): an interrupt in the pool's start of a worker can leave one
    running but unlisted, which multiprocessing's exit hook would then wait on."""
    listed = set((getattr(pool, "_processes", None) or {}).values())
    workers = list(listed | (set(multiprocessing.active_children()) - before))
    pool.shutdown(wait=False, cancel_futures=True)
    for process in workers:
        if process.is_alive():
            process.terminate()
    for process in workers:
        process.join(timeout=5)


#: Backends whose trials compute on one GPU.
GPU_BACKENDS = ("cupy",)


def default_workers(trials: Sequence[Trial]) -> int:
    """Worker processes when none are asked for: one per CPU, but one in all for trials on
    a GPU. There the trials of a group already train as one batched model on the device,
    and more processes would each open a CUDA context (its memory, its start-up and its
    own compile of the kernels) to share the one device by time-slicing."""
    if any(t.backend in GPU_BACKENDS for t in trials):
        return 1
    return os.cpu_count() or 1


def _groups(pending: Sequence[Trial], group_size: int, workers: int) -> list[list[Trial]]:
    """Pending trials in groups that train together: of one shape, at most ``group_size``,
    and split so that every worker gets a share."""
    groups: list[list[Trial]] = []
    by_shape: dict[Any, list[Trial]] = {}
    for trial in pending:
        shape = shape_of(trial) if group_size > 1 else None
        if shape is None:
            groups.append([trial])
        else:
            by_shape.setdefault(shape, []).append(trial)
    for trials in by_shape.values():
        size = max(1, min(group_size, -(-len(trials) // workers)))
        groups.extend(trials[i:i + size] for i in range(0, len(trials), size))
    # the longest first, so that no worker starts a long group while the others finish
    groups.sort(key=lambda g: -sum(t.epochs * t.train_samples for t in g))
    return groups


#: How long a study waits for a Dask scheduler to answer.
_CONNECT_SECONDS = 10


def _check_scheduler(address: str) -> None:
    """Connect to ``address`` and read the scheduler's handshake, all within
    :data:`_CONNECT_SECONDS`: distributed's ``Client`` waits for the handshake without end
    when the port accepts and never answers (a web server, a firewall), and fails with
    ``MemoryError`` or ``struct.error`` when something else answers (its bytes read as a
    frame's length). Raises ``ValueError`` for a malformed address, ``OSError`` for no
    answer in time, :class:`StudyError` for an answer that is not a scheduler's."""
    from distributed.comm import connect

    async def handshake() -> None:
        comm = await asyncio.wait_for(connect(address, timeout=_CONNECT_SECONDS),
                                      _CONNECT_SECONDS)
        await comm.close()

    # (in a thread of its own: the caller may run an event loop, a notebook's)
    with ThreadPoolExecutor(1) as pool:
        try:
            pool.submit(asyncio.run, handshake()).result()
        except asyncio.TimeoutError as exc:
            msg = (f"the port accepted, but no handshake came within {_CONNECT_SECONDS} s (is "
                   "a scheduler listening there?)")
            raise OSError(msg) from exc
        except (ValueError, OSError):
            raise
        except Exception as exc:  # (whatever the bytes that came back did)
            kind = type(exc).__name__
            if kind.islower():  # an old module's "error": struct.error, not error
                kind = f"{type(exc).__module__}.{kind}"
            msg = (f"--dask {address!r}: something answered there, but not a Dask scheduler "
                   f"({kind}: {exc}); a web page, the dashboard or another "
                   "service may listen on that port. Give the address the scheduler printed "
                   "(e.g. --dask tcp://HOST:8786), use --dask local, or leave --dask out to "
                   "run on this machine.")
            raise StudyError(msg) from exc


def _run_dask(groups: list[list[Trial]], address: str, workers: int,
              stored: Callable[[list[Trial], Sequence[dict[str, Any]]], None]) -> None:
    try:
        from distributed import Client, LocalCluster, as_completed
    except ImportError as exc:
        msg = "--dask needs the distributed package: pip install 'xpnet[dask]'."
        raise RuntimeError(msg) from exc
    cluster = None
    if address == "local":
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                               host="127.0.0.1", dashboard_address=None,
                               env=dict(_ONE_THREAD))
        client = Client(cluster)
        # the cluster's worker processes go with the process that started them (this one)
        client.run(exit_with_parent)
    else:
        if address.startswith(("http://", "https://")):
            msg = (f"--dask {address!r} is a web address, like the dashboard's that Dask "
                   "prints; give the scheduler's address instead, e.g. --dask "
                   "tcp://HOST:8786, or --dask local.")
            raise StudyError(msg)
        try:
            _check_scheduler(address)
            client = Client(address, timeout=_CONNECT_SECONDS)
        except ValueError as exc:  # a malformed address ("missing port number ...")
            msg = (f"--dask {address!r} is not a scheduler address ({exc}); give it as "
                   "tcp://HOST:PORT (the scheduler prints it; its port is 8786 unless "
                   "chosen), or --dask local.")
            raise StudyError(msg) from exc
        except (OSError, TimeoutError) as exc:  # distributed's refusals are OSErrors
            msg = (f"could not reach the Dask scheduler at {address!r} within "
                   f"{_CONNECT_SECONDS} s ({type(exc).__name__}: {exc}). Check the address "
                   "the scheduler printed (e.g. --dask tcp://HOST:8786), use --dask local, "
                   "or leave --dask out to run on this machine; --resume goes on from here.")
            raise StudyError(msg) from exc
    try:
        futures = client.map(run_trials, groups, pure=False)
        by_key = {f.key: g for f, g in zip(futures, groups, strict=True)}
        for future in as_completed(futures):
            stored(by_key[future.key], future.result())
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
