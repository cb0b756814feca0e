"""What a benchmark was run on: code version, CPU, BLAS kernel, load.

Shared by the scripts in this folder (run as ``python benchmarks/<script>.py``,
which puts this folder on ``sys.path``).
"""

import os
import platform
import subprocess

from threadpoolctl import threadpool_info

import skcnn


def skcnn_version():
    """skcnn's version, with the git commit of its source and whether it has local changes."""
    version = skcnn.__version__
    source = os.path.dirname(os.path.abspath(skcnn.__file__))
    try:
        commit = subprocess.run(
            ["git", "-C", source, "rev-parse", "--short", "HEAD"],
            capture_output=True, text=True, check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", source, "status", "--porcelain", "--", "."],
            capture_output=True, text=True, check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return version
    return f"{version} (git {commit}{', with uncommitted changes' if dirty else ''})"


def cpu_model():
    """The CPU's model name from /proc/cpuinfo (or what platform knows)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def numpy_blas():
    """numpy's BLAS as threadpoolctl reports it: library, version, kernel, threads."""
    found = [
        f"{info.get('internal_api')} {info.get('version')} "
        f"({info.get('architecture', '?')} kernel, {info.get('num_threads')} threads)"
        for info in threadpool_info()
        if info.get("user_api") == "blas" and "numpy" in info.get("filepath", "")
    ]
    return ", ".join(found) or "unknown BLAS"


def openblas_warning():
    """A markdown warning if OPENBLAS_* variables are set, else None."""
    pinned = {k: v for k, v in os.environ.items() if k.startswith("OPENBLAS_")}
    if not pinned:
        return None
    return (
        f"**Warning**: {pinned} set in the environment; it can pin a slower "
        "OpenBLAS kernel. Run with `env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE`."
    )


def load_average():
    """The 1, 5 and 15 minute load averages as ``a/b/c``."""
    try:
        return "/".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "unknown"
