"""One compute thread per process, for torch and for numpy's BLAS.

The networks are tiny (64-64) and runs go side by side on few cores, so a second thread costs more than it
gives: on a 2048 x 64 by 64 x 64 float32 matmul numpy's OpenBLAS spent 1090 us of CPU time with its default
2 threads against 213 us with one (2-core machine under load, measured 2026-12-04). torch.set_num_threads
does not reach numpy's BLAS; threadpoolctl does, at run time, whatever was imported first.
"""

import torch
from threadpoolctl import threadpool_limits


def single_thread() -> None:
    torch.set_num_threads(1)
    threadpool_limits(limits=1)  # without `with`: applies from now on, process-wide
