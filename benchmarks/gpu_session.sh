#!/usr/bin/env bash
# One GPU session in one command: the device and the versions; the whole-step engine's CuPy
# tests; `xpnet bench --device cuda` on the four cases with targets; bench_many.py; its
# per-kernel profile (bench_step.py); the GPU test matrix (CuPy and PyTorch on CUDA); the quick study
# on CuPy; bench_masks.py: in that order (what the issue needs most first), every output in
# DIR.
#
#   bash benchmarks/gpu_session.sh [DIR]        # DIR defaults to $OUT; run from anywhere
#
# Needs python3 with CuPy and PyTorch CUDA (PYTHON=... picks another). The pure-Python deps
# (array-api-compat, array-api-strict, nnfs, hatchling, ...) come from ./wheelhouse when the
# machine has no index: benchmarks/README.md ("GPU session runbook") says how to build it.
#
# Every step logs to a file in DIR and records "STEP rc=N seconds=S" in DIR/summary.txt; a
# failed step does not stop the next. Each step has a time limit, cut to what is left of
# GPU_SESSION_SECONDS (default 560: the whole session stays under 9.5 minutes); a step that
# reaches its limit gets SIGINT (rc 124; bench keeps the cases it finished: it writes its
# JSON after every case) and SIGKILL 15 s later. DIR receives 8 files (the device tool returns
# at most 8): summary.txt, env.txt, many.log (bench_step's JSON, bench_many's two runs, the
# quick study, bench_masks' JSON), many-gpu.json, bench.log, bench-gpu.json, pytest.log (the
# fast-path tests, then the matrix), bench-gpu-huge.json.
#
# Estimated durations on one H200: device and versions ~15 s, installs ~10 s, the fast-path
# and contender tests ~60 s, bench_step ~70 s, bench ~2-3 min (jax_jit and jax_scan compile
# for a few seconds; the CPU baseline at 3 repeats), bench_many ~60 s (two runs), the matrix
# ~2 min, the quick study ~1-2 min, bench_masks ~15 s (a cut loses the last steps first).
set -u

DIR=${1:-${OUT:-}}
if [ -z "$DIR" ]; then
    echo "usage: $0 DIR (or set OUT): where the session's files go" >&2
    exit 2
fi
mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd)
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT" || exit 2
PY=${PYTHON:-python3}
DEADLINE=${GPU_SESSION_SECONDS:-560}
START=$(date +%s)
SUMMARY=$DIR/summary.txt
ENVLOG=$DIR/env.txt

# one BLAS thread for the book's CPU baselines, as on the CPU; unbuffered logs; the checkout's
# xpnet importable even where the editable install below fails
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 PYTHONUNBUFFERED=1
# JAX grows its GPU memory as needed instead of taking 75% of it on first use (the jax_*
# contenders set this too): CuPy and PyTorch share the device in the same process
export XLA_PYTHON_CLIENT_PREALLOCATE=false
# the host-kernel tests skip compiling CuPy's sources by NVRTC here: the GPU runs them
export XPNET_NVRTC=0
export PYTHONPATH="$ROOT/src${PYTHONPATH:+:$PYTHONPATH}"

{
    echo "xpnet GPU session, $(date -u +%Y-%m-%dT%H:%M:%SZ), $(git rev-parse --short HEAD 2>/dev/null || echo 'no git')$(git status --porcelain -- src 2>/dev/null | grep -q . && echo '+dirty')"
    echo "python: $(command -v "$PY"); deadline ${DEADLINE}s"
} > "$SUMMARY"

# step NAME LOG LIMIT_S COMMAND...: run COMMAND with its output appended to LOG, at most
# LIMIT_S seconds (fewer if the session's deadline is nearer), and record its exit status.
step() {
    local name=$1 log=$2 limit=$3
    shift 3
    local left=$((DEADLINE - ($(date +%s) - START)))
    if [ "$left" -lt "$limit" ]; then limit=$left; fi
    if [ "$limit" -lt 5 ]; then
        echo "$name rc=skipped (the session's ${DEADLINE}s are spent)" >> "$SUMMARY"
        return 0
    fi
    local t0
    t0=$(date +%s)
    echo "=== $name (limit ${limit}s): $*" >> "$log"
    timeout -s INT -k 15 "$limit" "$@" >> "$log" 2>&1
    local rc=$?
    echo "$name rc=$rc seconds=$(($(date +%s) - t0))" >> "$SUMMARY"
    return 0
}

# --- the device and the software (~15 s) ------------------------------------------------------
step nvidia-smi "$ENVLOG" 20 nvidia-smi
step nvidia-smi-query "$ENVLOG" 20 nvidia-smi \
    --query-gpu=name,driver_version,memory.total,clocks.max.sm,clocks.max.mem,power.limit \
    --format=csv

# --- installs, offline (~10 s) ------------------------------------------------------------------
if [ -d wheelhouse ]; then
    step install-deps "$ENVLOG" 60 "$PY" -m pip install --no-index --find-links wheelhouse \
        --no-cache-dir array-api-compat array-api-strict nnfs hypothesis threadpoolctl
    FIND_LINKS=(--find-links wheelhouse)  # also hatchling, for the editable build below
else
    echo "no ./wheelhouse: pure-Python deps must already be installed" >> "$ENVLOG"
    FIND_LINKS=()
fi
step install-xpnet "$ENVLOG" 60 "$PY" -m pip install --no-index --no-deps --no-cache-dir \
    ${FIND_LINKS[@]+"${FIND_LINKS[@]}"} -e .
if ! grep -q "^install-xpnet rc=0" "$SUMMARY"; then
    # no build backend in an isolated environment: try the installed one (if any); without
    # it, PYTHONPATH=src (above) still imports the checkout
    step install-xpnet-no-isolation "$ENVLOG" 60 "$PY" -m pip install --no-index --no-deps \
        --no-cache-dir --no-build-isolation -e .
fi
step versions "$ENVLOG" 60 "$PY" - <<'EOF'
import importlib, sys
print("python", sys.version.split()[0], sys.executable)
for name in ("numpy", "array_api_compat", "array_api_strict", "cupy", "torch", "jax",
             "jaxlib", "nnfs", "hypothesis", "pytest", "threadpoolctl", "xpnet"):
    try:
        module = importlib.import_module(name)
    except Exception as exc:
        print(f"{name}: MISSING ({type(exc).__name__}: {exc})")
        continue
    print(f"{name} {getattr(module, '__version__', '?')} ({getattr(module, '__file__', '')})")
try:
    import cupy
    rt = cupy.cuda.runtime
    props = rt.getDeviceProperties(cupy.cuda.Device().id)
    print("cupy: CUDA runtime", rt.runtimeGetVersion(), "driver", rt.driverGetVersion(),
          "device", props["name"], "cc", props["major"], props["minor"],
          "CUPY_TF32", __import__("os").environ.get("CUPY_TF32"))
except Exception as exc:
    print(f"cupy CUDA: {type(exc).__name__}: {exc}")
try:
    import torch
    print("torch: CUDA", torch.version.cuda, "available", torch.cuda.is_available(),
          torch.cuda.get_device_name() if torch.cuda.is_available() else "")
except Exception as exc:
    print(f"torch CUDA: {type(exc).__name__}: {exc}")
try:
    import jax
    print("jax: devices", jax.devices(), "default backend", jax.default_backend())
except Exception as exc:
    print(f"jax: {type(exc).__name__}: {exc}")
from xpnet.backend import available
print("xpnet backends here:", available())
EOF

# --- nothing below runs without xpnet and its dependencies: stop here, saying why, rather than
# spend the session on steps that cannot import it (no ./wheelhouse carried: see the runbook)
if ! "$PY" -c "import array_api_compat, xpnet" >> "$ENVLOG" 2>&1; then
    echo "import-check rc=1: xpnet or array-api-compat does not import (env.txt says why); carry=[\"wheelhouse\"] and see benchmarks/README.md" >> "$SUMMARY"
    cat "$SUMMARY"
    exit 1
fi

# --- a smoke step (~10 s): the reference model trains 2 epochs on the whole-step engine and
# the device is synchronized, so a kernel fault shows here, alone, and not as a cascade of
# CUDA errors through the tests after it ----------------------------------------------------------
step smoke "$DIR/pytest.log" 60 "$PY" - <<'EOF2'
import cupy
from xpnet import presets
model, (X, y), _ = presets.build("ch15", backend="cupy", seed=0)
history = model.train(X, y, epochs=2, log_every=1)
cupy.cuda.Device().synchronize()
print("smoke: engine", model.engine, "loss", history["loss"])
EOF2

# --- the fast paths first (~60 s): the whole-step engine's kernels (NVRTC) against the layered
# NumPy path and the host-compiled source, and its graph replay (tests/test_engine_step.py);
# CuPy's fused kernels and graph replay against the generic path
# (tests/test_engine_fused.py), and the counter-based dropout masks (Philox on CuPy, in
# Array API operations and as one kernel; the one-pass kernel applying them) against NumPy's
# bits (tests/test_counter_dropout.py):
# the parts of xpnet that no CPU test can run on the device; then the bench's GPU-only
# contenders (GPU_CONTENDER_TESTS): torch_cuda_graph's replays against torch_eager and its
# dropout masks, JAX on the GPU against JAX on the CPU -------------------------------------------
GPU_CONTENDER_TESTS=(
    tests/test_bench.py::test_torch_cuda_graph_replays_torch_eager
    tests/test_bench.py::test_torch_cuda_graph_draws_new_masks_every_replay
    tests/test_bench.py::test_jax_on_the_gpu_follows_jax_on_the_cpu
)
step fast-paths "$DIR/pytest.log" 150 env XPNET_TEST_BACKENDS=cupy "$PY" -m pytest -q \
    tests/test_engine_step.py tests/test_engine_fused.py tests/test_counter_dropout.py \
    "${GPU_CONTENDER_TESTS[@]}" -p no:cacheprovider -rs

# --- the issue's targets (~2-3 min): the four cases with GPU targets against the peers the
# targets name, every case written as it finishes: xpnet (defaults: the whole-step engine,
# graph="auto"), xpnet_layered (fast=False, the path before it), torch_eager, torch_cuda_graph
# (the whole step as one CUDA graph), jax_jit (a jitted step per epoch) and jax_scan
# (lax.scan, up to 64 epochs a launch); the book's code (on the CPU) on the reference cases
# only: on huge it takes 10-30 s an epoch, and a contender named in --contenders is timed on
# every case. xpnet_fast is not named: on CuPy it is the default's whole-step engine ---------
step bench "$DIR/bench.log" 150 "$PY" -m xpnet bench --device cuda --repeats 3 \
    --cases reference,reference_dropout \
    --contenders book,xpnet,xpnet_layered,torch_eager,torch_cuda_graph,jax_jit,jax_scan \
    --json "$DIR/bench-gpu.json"
step bench-huge "$DIR/bench.log" 150 "$PY" -m xpnet bench --device cuda --repeats 3 \
    --cases huge,huge_dropout \
    --contenders xpnet,xpnet_layered,torch_eager,torch_cuda_graph,jax_jit,jax_scan \
    --json "$DIR/bench-gpu-huge.json"

# --- many models at once (~60 s) ----------------------------------------------------------------
# the issue's command (ch15, with Dropout: masks drawn on the device, by default on CuPy), then the
# reference workload without dropout, which only the GPU's launches limit
step many "$DIR/many.log" 75 "$PY" benchmarks/bench_many.py --device cuda --models 64 \
    --epochs 50 --repeats 3 --json "$DIR/many-gpu.json"
step many-no-dropout "$DIR/many.log" 45 "$PY" benchmarks/bench_many.py --device cuda \
    --models 64 --epochs 50 --repeats 3 --no-dropout

# --- where a whole-step epoch goes (~70 s): each kernel's time (CUDA events), the eager epoch
# and the replayed one, on the four target cases; the two reference cases again with 64 and
# 256 rows at least per backward thread (min_rows_sweep), and every case again with the
# partial sums in one level (split_from_sweep "off": is step.SPLIT_FROM's two-level sum, on
# from 64 blocks, the faster?) (a JSON object in many.log) ---------------------------------------
step step-kernels "$DIR/many.log" 110 "$PY" benchmarks/bench_step.py --device cuda

# --- the GPU test matrix (~2 min, or what is left): CuPy and PyTorch on CUDA (the backend
# fixture's "torch-cuda"), without the contenders' GPU tests, which ran above (a first failure of theirs would stop it: -x) ------------------------------------------
step pytest-cupy "$DIR/pytest.log" 240 env XPNET_TEST_BACKENDS=cupy,torch-cuda "$PY" -m pytest -q \
    -m "not slow" -x -p no:cacheprovider --durations=15 -rs -k "cupy or cuda or gpu" \
    --ignore=tests/test_engine_step.py --ignore=tests/test_engine_fused.py \
    --ignore=tests/test_counter_dropout.py "${GPU_CONTENDER_TESTS[@]/#/--deselect=}"

# --- the lab on the GPU (~1-2 min): the quick study of every question on CuPy (one worker
# process by default on a GPU); its seconds in summary.txt against the CPU's (48 s on the
# 2-core development machine, 2026-11-30) ---------------------------------------------------------
step study-cupy "$DIR/many.log" 150 "$PY" -m xpnet study all --quick --backend cupy \
    --out "$(mktemp -d)/study"

# --- one huge-sized dropout mask (~15 s): the host stream and its copy (what every step paid
# before) against Philox in CuPy operations and as one kernel, and applying a mask, for scale
# (a JSON object in many.log) -------------------------------------------------------------------
step masks "$DIR/many.log" 60 "$PY" benchmarks/bench_masks.py --device cuda --repeats 5

# --- if time is left (~1-2 min): the same study with 4 worker processes sharing the GPU, to
# check the one-worker default (runner.default_workers) against it --------------------------------
step study-cupy-4-workers "$DIR/many.log" 150 "$PY" -m xpnet study all --quick \
    --backend cupy --workers 4 --out "$(mktemp -d)/study"

# a temporary file left by a step killed while writing its JSON would be a ninth file
rm -f "$DIR"/.*.tmp
echo "total seconds=$(($(date +%s) - START))" >> "$SUMMARY"
cat "$SUMMARY"
