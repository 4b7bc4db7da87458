"""Text tables of a :func:`~xpnet.bench.harness.run_suite` result (returned, not printed).

By default every line fits in :data:`WIDTH` columns: per contender the median, its spread,
the ratios, the achieved bandwidth, the distance to the floor, the peak memory and the
accuracy. ``verbose=True`` adds the min-max, GFLOP/s, the share of the ceilings and the
floor itself in wider rows; the JSON holds every number.
"""

from __future__ import annotations

import textwrap
from typing import Any

__all__ = ["WIDTH", "render", "render_case"]

#: Columns the default tables fit in.
WIDTH = 100

#: (title, width, alignment, shown by default)
_COLUMNS = (("contender", 16, "<", True), ("ms/epoch", 9, ">", True),
            ("+-%", 4, ">", True), ("min-max", 15, ">", False),
            ("vs book", 7, ">", True), ("vs nnfs", 7, ">", True), ("vs eager", 8, ">", True),
            ("vs compile", 10, ">", True), ("vs graph", 8, ">", False),
            ("vs jit", 6, ">", False), ("GFLOP/s", 7, ">", False), ("GB/s", 6, ">", True),
            ("%ceil F/B", 9, ">", False), ("floor ms", 8, ">", False),
            ("x floor", 7, ">", True), ("peak MB (x need)", 16, ">", False),
            ("peak MB", 7, ">", True), ("acc", 5, ">", True))


def _ms(value: float) -> str:
    """Milliseconds with about four significant digits."""
    return f"{value:.1f}" if value >= 100 else f"{value:.2f}" if value >= 10 else f"{value:.3f}"


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


def _floor_ms(value: float | None) -> str:
    """A floor in milliseconds: tiny cases' floors are microseconds, so small values keep
    two significant digits."""
    if value is None:
        return "-"
    return f"{value:.2g}" if value < 0.01 else _ms(value)


def _times(value: float | None) -> str:
    """A ratio to the floor, which can be in the thousands on cases that fit in cache."""
    if value is None:
        return "-"
    return f"{value:.0f}x" if value >= 100 else f"{value:.1f}x" if value >= 10 else \
        f"{value:.2f}x"


def _percent(fraction: float | None) -> str:
    if fraction is None:
        return "-"
    return f"{100 * fraction:.0f}" if fraction >= 0.1 else f"{100 * fraction:.1f}"


def _table(rows: list[list[str]], verbose: bool) -> list[str]:
    """Header, rule and ``rows`` (a cell per column of :data:`_COLUMNS`): the default
    columns, or the verbose ones; a column with nothing but "-" is left out."""
    keep = [i for i, (title, _, _, default) in enumerate(_COLUMNS)
            if (default if not verbose else title != "peak MB")
            and (i == 0 or any(row[i] != "-" for row in rows))]

    def line(cells: list[str]) -> str:
        return " ".join(f"{cells[i]:{_COLUMNS[i][2]}{_COLUMNS[i][1]}}" for i in keep).rstrip()

    header = line([title for title, *_ in _COLUMNS])
    return [header, "-" * len(header), *(line(row) for row in rows)]


def _wrap(text: str) -> str:
    return textwrap.fill(text, WIDTH, subsequent_indent="  ", break_on_hyphens=False)


def render_case(name: str, case: dict[str, Any], verbose: bool = False) -> str:
    """One case: a header with the workload and its cost, then a row per contender."""
    w = case["workload"]
    device = case.get("device", "cpu")
    dropout = f"Dropout({w['dropout']})" if w["dropout"] else "no dropout"
    floors = case.get("floor") or {}
    floor = "".join(
        f"; floor on {dev} {_floor_ms(f['floor_ms'])} ms ({_floor_ms(f['matmul_ms'])} "
        f"products + {_floor_ms(f['traffic_ms'])} traffic)" for dev, f in floors.items())
    rows = []
    for contender, row in case["results"].items():
        peak = row["peak_bytes"]
        acc = "-" if row["final_acc"] is None else f"{row['final_acc']:.3f}"
        where = row.get("device", device)
        rows.append([
            contender if where == device else f"{contender} ({where})",
            _ms(row["median_ms"]), f"{50 * row['spread']:.0f}",
            f"{_ms(row['min_ms'])}-{_ms(row['max_ms'])}",
            _ratio(row["vs_book"]), _ratio(row["vs_book_nnfs"]),
            _ratio(row["vs_torch_eager"]), _ratio(row["vs_torch_compile"]),
            _ratio(row.get("vs_torch_cuda_graph")), _ratio(row.get("vs_jax_jit")),
            f"{row['gflops']:.2f}", f"{row['gbps']:.2f}",
            f"{_percent(row['gflops_fraction'])}/{_percent(row['gbps_fraction'])}",
            _floor_ms(row.get("floor_ms")), _times(row.get("vs_floor")),
            "-" if peak is None else f"{peak / 1e6:.1f} ({row['peak_over_needed']:.2f}x)",
            "-" if peak is None else f"{peak / 1e6:.1f}", acc])
    lines = [_wrap(
        f"{name}: N={w['N']}, H={w['hidden']}, {dropout}; {case['epochs']} epochs x "
        f"{case['repeats']} repeats (warmup {case['warmup']}); per epoch "
        f"{w['flops'] / 1e6:.2f} MFLOP, {w['bytes_moved'] / 1e6:.2f} MB moved, "
        f"{w['needed_bytes'] / 1e6:.2f} MB needed{floor}"), *_table(rows, verbose)]
    for contender, reason in case["skipped"].items():
        lines.append(_wrap(f"  skipped {contender}: {reason}"))
    return "\n".join(lines)


def _ceilings_note(ceilings: dict[str, Any], what: str) -> str:
    return (f"{what} (measured now): float32 matmul {ceilings['matmul_gflops']:.1f} "
            f"GFLOP/s ({ceilings['matmul_n']}^3), memory copy "
            f"{ceilings['bandwidth_gbps']:.1f} GB/s (read + write)")


def _device_note(cuda: dict[str, Any]) -> str:
    """The GPU and its software, in one line."""
    gpu = cuda.get("gpu") or "GPU not identified"
    parts = [f"device: {gpu}"]
    if cuda.get("compute_capability"):
        parts.append(f"compute capability {cuda['compute_capability']}, "
                     f"{cuda.get('multiprocessors')} SMs")
    for key, label in (("cuda_runtime", "CUDA runtime"), ("cuda_driver", "CUDA driver"),
                       ("nvidia_driver", "driver"), ("cupy", "cupy"), ("torch", "torch")):
        if cuda.get(key):
            parts.append(f"{label} {cuda[key]}")
    return ", ".join(parts) + ("; " + "; ".join(cuda["errors"]) if cuda.get("errors") else "")


def render(result: dict[str, Any], verbose: bool = False) -> str:
    """Every case's table, then the ceilings, threads and load average; within
    :data:`WIDTH` columns unless ``verbose``."""
    parts = [render_case(name, case, verbose) for name, case in result["cases"].items()]
    env, threads, ceilings = result["environment"], result["threads"], result["ceilings"]
    device = result.get("device", "cpu")
    notes = []
    if device != "cpu":
        if env.get("cuda"):
            notes.append(_device_note(env["cuda"]))
        notes.append(f"on {device}: xpnet on CuPy, torch on {device}, JAX on its GPU; the "
                     "book's code on the CPU (rows marked (cpu)); data moved to the device "
                     "before timing; every timed region starts and ends with a device "
                     "synchronize")
        if ceilings:
            notes.append(_ceilings_note(ceilings, "GPU ceilings, CUDA events"))
        if result.get("host_ceilings"):
            notes.append(_ceilings_note(result["host_ceilings"], "CPU ceilings"))
    elif ceilings:
        notes.append(_ceilings_note(ceilings, "ceilings"))
    # each library's own pool, by its file's name (NumPy's and SciPy's OpenBLAS are two)
    pools = ", ".join(sorted({f"{p.get('prefix') or p['internal_api']} {p['num_threads']}"
                              for p in threads.get("pools", [])}))
    torch_threads = threads.get("torch_threads")
    notes.append(f"threads: {pools or 'BLAS not controlled'}"
                 + (f", torch {torch_threads}" if torch_threads is not None else "")
                 + f"; load average (1 min) {env['loadavg_1m_start']} at start, "
                 f"{env['loadavg_1m_end']} at end, cpu_count={env['cpu_count']}")
    notes.extend(f"warning: {w}" for w in threads.get("warnings", []))
    if verbose:
        notes.append("ms/epoch is the median over repeats, +-% half its min-max range; ratios "
                     "are median/median (<1 = faster than the reference; ratios to torch and "
                     "JAX on xpnet rows; vs graph: torch_cuda_graph, vs jit: jax_jit); "
                     "GFLOP/s and GB/s are the cost model's counts over the median time; "
                     "%ceil is the share of the ceilings; floor = FLOPs at the matmul ceiling "
                     "+ bytes moved at the copy bandwidth, x floor the median over it; peak MB "
                     "is the peak memory (x need: over what the maths needs); acc is the last "
                     "timed epoch's accuracy")
    else:
        notes.append("ms/epoch is the median over repeats, +-% half its min-max range; ratios "
                     "are median/median (<1 = faster than the reference); acc is the last "
                     "timed epoch's accuracy; --verbose adds min-max, ratios to "
                     "torch_cuda_graph and jax_jit, GFLOP/s, the share of the machine's "
                     "ceilings, the cost floor and the peak memory over the need; --json "
                     "keeps every number")
    config = result.get("config", {})
    if config.get("quick"):
        notes.append("--quick: fewer epochs and repeats; unless named with --cases and "
                     "--contenders, only the reference, reference_dropout and wide cases, and "
                     "no torch_compile, jax_jit or jax_scan (they compile first)")
    if not result.get("complete", True):
        notes.append("INCOMPLETE: the run stopped before its last case")
    return "\n\n".join(parts) + "\n\n" + "\n".join(_wrap(n) for n in notes) + "\n"
