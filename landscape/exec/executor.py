"""Where independent tasks run: this process or a Ray cluster, behind one interface.

    executor = LocalExecutor()                       # or RayExecutor(address, max_retries=3)
    executor.map(fn, items, on_result, shared=(big,), on_error=None)

runs fn(*shared, item) for every item and calls on_result(item, result) in the calling process as each
finishes (in item order locally, in completion order on Ray), so the caller writes each result as it
arrives: a scan writes its chunks to the store, a sweep its runs' JSON. A failed item goes to
on_error(item, LandscapeError) and the others go on; without on_error the first failure is raised (on Ray,
after cancelling the rest). Locally a failure is a LandscapeError (anything else is a bug and propagates);
on Ray it is any task error, as one line (distributed.task_error). Large shared arguments are put into
Ray's object store once, not shipped per task.

`fn` must be importable by its module path on the workers (a module-level function of the package, never
one of `__main__`); every Ray task holds one CPU and runs with one torch and one MuJoCo thread
(distributed.worker_setup). Scans (scanning.run) and sweeps (sweep.py) both use it.
"""

from ..core.errors import LandscapeError


class LocalExecutor:
    """Each item in turn, in this process."""

    local = True

    def map(self, fn, items, on_result, shared=(), on_error=None) -> None:
        for item in items:
            try:
                result = fn(*shared, item)
            except LandscapeError as err:
                if on_error is None:
                    raise
                on_error(item, err)
                continue
            on_result(item, result)


def _on_worker(fn, *args):
    """A task on a Ray worker: one CPU's worth of threads, then fn."""
    from .distributed import worker_setup

    worker_setup()
    return fn(*args)


class RayExecutor:
    """Every item a Ray task with one CPU; a task whose worker died is re-run up to max_retries times.

    address: the cluster (None: $RAY_ADDRESS, else a new one-machine cluster). A connection this process
    already holds (a notebook's ray.init) is reused and left open; one made here is closed after map.
    """

    local = False

    def __init__(self, address: str | None = None, max_retries: int = 3):
        self.address, self.max_retries = address, max_retries

    def map(self, fn, items, on_result, shared=(), on_error=None) -> None:
        from .distributed import connect, task_error

        items = list(items)
        if not items:
            return
        ray, owned = connect(self.address)
        try:
            # named after fn: the task's name and its worker's process title (ray::<fn>)
            task = ray.remote(num_cpus=1, max_retries=self.max_retries)(_on_worker).options(name=fn.__name__)
            refs = [ray.put(x) for x in shared]
            pending = {task.remote(fn, *refs, item): i for i, item in enumerate(items)}
            while pending:
                ready, _ = ray.wait(list(pending), num_returns=1)
                item = items[pending.pop(ready[0])]
                try:
                    result = ray.get(ready[0])
                except ray.exceptions.RayError as err:
                    if on_error is None:
                        for ref in pending:
                            ray.cancel(ref, force=True)
                        raise task_error(err)
                    on_error(item, task_error(err))
                    continue
                on_result(item, result)
        finally:
            if owned:
                ray.shutdown()


def make_executor(backend: str, address: str | None = None, max_retries: int = 3):
    """The executor of a --backend flag: local or ray."""
    if backend == "ray":
        return RayExecutor(address, max_retries)
    if backend != "local":
        raise LandscapeError(f"unknown backend {backend!r}; choose from local, ray")
    return LocalExecutor()
