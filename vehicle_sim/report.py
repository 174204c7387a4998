"""Run reports: a JSON verdict and a PNG of the key signals, so a failed run can be judged at a glance."""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from .metrics import evaluate
from .scenario import Scenario

TTC_CLIP_S = 10.0


def jsonable(v: Any) -> Any:
    """Plain JSON types from numpy scalars/arrays; non-finite floats become null."""
    if isinstance(v, dict):
        return {k: jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [jsonable(x) for x in v]
    if isinstance(v, (np.floating, float)):
        return None if not math.isfinite(float(v)) else float(v)
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, np.bool_):
        return bool(v)
    if isinstance(v, np.ndarray):
        return jsonable(v.tolist())
    return v


def write_report(out_dir: str | Path, scenario: Scenario, seed: int, summary: dict, timeseries: dict,
                 plot: bool = True) -> dict:
    """Write ``<name>.json`` (and ``<name>.png``) into ``out_dir``; returns the JSON document."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    passed, reasons = evaluate(scenario.success, summary)
    doc = {"scenario": scenario.name, "source": scenario.source, "seed": int(seed), "passed": passed,
           "reasons": reasons, "summary": jsonable(summary)}
    (out / f"{scenario.name}.json").write_text(json.dumps(doc, indent=2, sort_keys=True), encoding="utf-8")
    if plot:
        doc["plot"] = str(_plot(out / f"{scenario.name}.png", scenario.name, passed, reasons, timeseries))
    return doc


def _plot(path: Path, name: str, passed: bool, reasons: list[str], ts: dict) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = np.asarray(ts["t"])
    fig, axes = plt.subplots(4, 1, figsize=(9, 10), sharex=True)
    ax = axes[0]
    ax.plot(t, np.asarray(ts["ego_speed_mps"]) * 3.6, label="ego", lw=2)
    for aid, v in ts.get("actor_speed_mps", {}).items():
        ax.plot(t, np.asarray(v) * 3.6, label=aid, lw=1)
    ax.set_ylabel("speed [km/h]")
    ax.legend(loc="best", fontsize=7)
    axes[1].plot(t, ts["gap_m"])
    axes[1].set_ylabel("gap to lead [m]")
    axes[2].plot(t, np.clip(np.asarray(ts["ttc_s"], dtype=float), 0, TTC_CLIP_S))
    axes[2].set_ylabel(f"TTC [s] (clip {TTC_CLIP_S:g})")
    axes[3].plot(t, ts["ego_accel_mps2"], label="measured")
    if "requested_accel_mps2" in ts:
        axes[3].plot(t, ts["requested_accel_mps2"], label="requested", lw=0.8, ls="--")
    axes[3].set_ylabel("accel [m/s²]")
    axes[3].set_xlabel("t [s]")
    axes[3].legend(loc="best", fontsize=7)
    for a in axes:
        a.grid(alpha=0.3)
    verdict = "PASS" if passed else "FAIL: " + "; ".join(reasons)
    fig.suptitle(f"{name} — {verdict}", fontsize=10, color="green" if passed else "red")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
