"""Thread count for the benchmark scripts, set before NumPy is imported: BLAS and OpenMP read
these variables when they are first loaded, so this module is imported first."""

import os
import sys


def _threads_from_argv(default: str = "1") -> str:
    for i, a in enumerate(sys.argv):
        if a == "--threads" and i + 1 < len(sys.argv):
            return sys.argv[i + 1]
        if a.startswith("--threads="):
            return a.split("=", 1)[1]
    return default


for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = _threads_from_argv()
