"""nox sessions: the test matrix over backends, lint, typecheck, docs, examples, bench.

    nox -l                                  # list the sessions
    nox -s "tests(backend='jax')"           # one backend: numpy, array_api_strict, torch, cupy, jax
    nox -s tests_slow                       # the full-length faithful runs (minutes)
    nox -s lint typecheck docs examples     # what a pull request should pass
    nox -s bench                            # the quick benchmark suite (xpnet bench)
    nox -s kernels                          # the CUDA kernels compiled by NVRTC, no GPU

Each session gets a plain ``venv`` with pip (no uv or conda needed, which keeps it working
where only a package index, or a local wheel folder, is reachable). Add ``-r`` to reuse the
environments between runs.
"""

from __future__ import annotations

import datetime
from pathlib import Path

import nox

nox.options.default_venv_backend = "venv"
nox.options.sessions = [
    "tests(backend='numpy')",
    "tests(backend='array_api_strict')",
    "tests(backend='torch')",
    "tests(backend='cupy')",
    "tests(backend='jax')",
    "kernels",
    "lint",
    "typecheck",
    "docs",
    "examples",
]

ROOT = Path(__file__).parent
BACKENDS = ["numpy", "array_api_strict", "torch", "cupy", "jax"]
#: The extras each backend's test session installs besides ``test`` (CPU JAX comes from PyPI).
EXTRAS = {"cupy": "cupy-cuda12", "jax": "jax"}
#: The CPU build of PyTorch that the project tests against (installed before xpnet so that
#: the ``torch`` requirement is already met by it), from PyTorch's CPU index: a plain
#: ``pip install torch`` gets the CUDA build and gigabytes of NVIDIA packages on Linux.
TORCH = ["torch==2.13.0", "--extra-index-url", "https://download.pytorch.org/whl/cpu"]

# One thread for BLAS and OpenMP: on small shared machines (CI's has 2 cores) more threads
# only fight each other, and PyTorch with 2 threads ran xpnet's small ops ~30x slower.
ENV = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}

#: pytest exit status when every test was deselected or skipped at collection (e.g. CuPy
#: without a GPU); not a failure for the optional backends.
NO_TESTS_COLLECTED = 5


@nox.session
@nox.parametrize("backend", BACKENDS)
def tests(session: nox.Session, backend: str) -> None:
    """The test suite (without the slow full-length runs) on one backend."""
    env = {**ENV, "XPNET_TEST_BACKENDS": backend}
    if backend == "torch":
        session.install(*TORCH)
    extras = f"test,{EXTRAS[backend]}" if backend in EXTRAS else "test"
    session.install("-e", f".[{extras}]")
    success = [0, NO_TESTS_COLLECTED] if backend == "cupy" else [0]
    session.run("pytest", "-m", "not slow", *session.posargs, env=env, success_codes=success)


#: CuPy and NVRTC for :func:`kernels` (CuPy's code generation and compiler; no GPU needed).
NVRTC = ["cupy-cuda13x==14.2.*", "nvidia-cuda-nvrtc==13.*"]
#: The tests that run the engines' CUDA kernel sources (compiled for the host, and by NVRTC).
KERNEL_TESTS = ["tests/test_nvrtc.py", "tests/test_engine_step.py",
                "tests/test_engine_fused.py", "tests/test_counter_dropout.py"]


@nox.session
def kernels(session: nox.Session) -> None:
    """The engines' CUDA kernels as CuPy generates them, compiled by NVRTC for the GPU, on a
    machine without one (the tests that run their source on the host, with the check on)."""
    session.install("-e", ".[test]", *NVRTC)
    session.run("pytest", *KERNEL_TESTS, *session.posargs,
                env={**ENV, "XPNET_REQUIRE_NVRTC": "1", "XPNET_TEST_BACKENDS": "numpy"})


@nox.session
def tests_slow(session: nox.Session) -> None:
    """The full-length faithful runs against the book's output (several minutes)."""
    session.install("-e", ".[test]")
    session.run("pytest", "-m", "slow", *session.posargs, env=ENV)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff over the library, tests, examples, benchmarks and these tools."""
    session.install("ruff")
    session.run("ruff", "check", "src", "tests", "examples", "benchmarks", "noxfile.py",
                "docs", *session.posargs)


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy on the library (configured in pyproject.toml) and on the examples."""
    session.install("mypy", "-e", ".")
    session.run("mypy", *session.posargs)
    session.run("mypy", "examples")


@nox.session
def docs(session: nox.Session) -> None:
    """Build the site with warnings as errors, then run every code block of the pages."""
    session.install("-e", ".[docs,strict]")
    env = {**ENV, "NO_MKDOCS_2_WARNING": "1"}
    session.run("mkdocs", "build", "--strict", "--site-dir", str(Path(session.create_tmp())
                / "site"), env=env)
    session.run("python", "docs/run_snippets.py", env=env)


@nox.session
def examples(session: nox.Session) -> None:
    """Each example script, briefly (20 epochs) on NumPy."""
    session.install("-e", ".")
    scripts = sorted((ROOT / "examples").glob("[0-9][0-9]_*.py"))
    if not scripts:
        session.error("no example scripts found in examples/")
    for script in scripts:
        session.run("python", str(script.relative_to(ROOT)), "--backend", "numpy",
                    "--epochs", "20", env=ENV)


@nox.session
def bench(session: nox.Session) -> None:
    """The quick benchmark suite (``xpnet bench --quick``), JSON into benchmarks/results/.

    Arguments after ``--`` replace the default ones: ``nox -s bench -- --cases reference``.
    """
    session.install(*TORCH)
    session.install("-e", ".")
    out = ROOT / "benchmarks" / "results" / f"bench-{datetime.date.today().isoformat()}.json"
    args = session.posargs or ["--quick", "--json", str(out.relative_to(ROOT))]
    session.run("xpnet", "bench", *args, env=ENV)
