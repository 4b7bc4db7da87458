"""Text tables of a :func:`~xpnet.bench.harness.run_suite` result (returned, not printed)."""

from __future__ import annotations

from typing import Any

__all__ = ["render", "render_case"]

_COLUMNS = (("contender", 15, "<"), ("ms/epoch", 9, ">"), ("min-max", 15, ">"),
            ("vs book", 7, ">"), ("vs nnfs", 7, ">"), ("vs eager", 8, ">"),
            ("vs compile", 10, ">"), ("GFLOP/s", 7, ">"), ("GB/s", 6, ">"),
            ("%ceil F/B", 9, ">"), ("floor ms", 8, ">"), ("x floor", 7, ">"),
            ("peak MB (x need)", 16, ">"), ("acc", 5, ">"))


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


def _line(cells: list[str]) -> str:
    return " ".join(f"{cell:{align}{width}}" for cell, (_, width, align) in zip(
        cells, _COLUMNS, strict=True)).rstrip()


def render_case(name: str, case: dict[str, Any]) -> str:
    """One case: a header with the workload and its cost, then a row per contender."""
    w = case["workload"]
    device = case.get("device", "cpu")
    dropout = f"Dropout({w['dropout']})" if w["dropout"] else "no dropout"
    floors = case.get("floor") or {}
    floor = "".join(
        f"; floor on {dev} {_floor_ms(f['floor_ms'])} ms ({_floor_ms(f['matmul_ms'])} "
        f"products + {_floor_ms(f['traffic_ms'])} traffic)" for dev, f in floors.items())
    lines = [
        f"{name}: N={w['N']}, H={w['hidden']}, {dropout}; {case['epochs']} epochs x "
        f"{case['repeats']} repeats (warmup {case['warmup']}); per epoch "
        f"{w['flops'] / 1e6:.2f} MFLOP, {w['bytes_moved'] / 1e6:.2f} MB moved, "
        f"{w['needed_bytes'] / 1e6:.2f} MB needed{floor}",
        _line([title for title, _, _ in _COLUMNS]),
    ]
    lines.append("-" * len(lines[-1]))
    for contender, row in case["results"].items():
        peak = ("-" if row["peak_bytes"] is None else
                f"{row['peak_bytes'] / 1e6:.1f} ({row['peak_over_needed']:.2f}x)")
        acc = "-" if row["final_acc"] is None else f"{row['final_acc']:.3f}"
        where = row.get("device", device)
        label = contender if where == device else f"{contender} ({where})"
        lines.append(_line([
            label, _ms(row["median_ms"]), f"{_ms(row['min_ms'])}-{_ms(row['max_ms'])}",
            _ratio(row["vs_book"]), _ratio(row["vs_book_nnfs"]),
            _ratio(row["vs_torch_eager"]), _ratio(row["vs_torch_compile"]),
            f"{row['gflops']:.2f}", f"{row['gbps']:.2f}",
            f"{_percent(row['gflops_fraction'])}/{_percent(row['gbps_fraction'])}",
            _floor_ms(row.get("floor_ms")), _times(row.get("vs_floor")), peak, acc]))
    for contender, reason in case["skipped"].items():
        lines.append(f"  skipped {contender}: {reason}")
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


def render(result: dict[str, Any]) -> str:
    """Every case's table, then the ceilings, threads and load average."""
    parts = [render_case(name, case) for name, case in result["cases"].items()]
    env, threads, ceilings = result["environment"], result["threads"], result["ceilings"]
    device = result.get("device", "cpu")
    notes = []
    if device != "cpu":
        if env.get("cuda"):
            notes.append(_device_note(env["cuda"]))
        notes.append(f"on {device}: xpnet on CuPy, torch on {device}; the book's code on the "
                     "CPU (rows marked (cpu)); data moved to the device before timing; every "
                     "timed region starts and ends with a device synchronize")
        if ceilings:
            notes.append(_ceilings_note(ceilings, "GPU ceilings, CUDA events"))
        if result.get("host_ceilings"):
            notes.append(_ceilings_note(result["host_ceilings"], "CPU ceilings"))
    elif ceilings:
        notes.append(_ceilings_note(ceilings, "ceilings"))
    pools = ", ".join(f"{p['internal_api']} {p['num_threads']}"
                      for p in sorted(threads.get("pools", []),
                                      key=lambda p: str(p["internal_api"])))
    torch_threads = threads.get("torch_threads")
    notes.append(f"threads: {pools or 'BLAS not controlled'}"
                 + (f", torch {torch_threads}" if torch_threads is not None else "")
                 + f"; load average (1 min) {env['loadavg_1m_start']} at start, "
                 f"{env['loadavg_1m_end']} at end, cpu_count={env['cpu_count']}")
    notes.extend(f"warning: {w}" for w in threads.get("warnings", []))
    notes.append("ms/epoch is the median over repeats; ratios are median/median (<1 = faster "
                 "than the reference; torch ratios on xpnet rows); GFLOP/s and GB/s are the "
                 "cost model's counts over the median time; %ceil is the share of the "
                 "ceilings; floor = FLOPs at the matmul ceiling + bytes moved at the copy "
                 "bandwidth, x floor the median over it; acc is the last timed epoch's "
                 "accuracy")
    if not result.get("complete", True):
        notes.append("INCOMPLETE: the run stopped before its last case")
    return "\n\n".join(parts) + "\n\n" + "\n".join(notes) + "\n"
