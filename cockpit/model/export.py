"""`edgepilot cockpit export`: the trained Hugging Face folder -> an ONNX Runtime GenAI model folder.

Why the stock builder: `python -m onnxruntime_genai.models.builder` writes the decoder with its KV cache and
`genai_config.json` the way onnxruntime-genai expects, so the same runtime also loads any Qwen/Phi export a user
brings. We only run it, copy nothing by hand, and check the result generates the training answer for a probe.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

PRECISIONS = ("fp32", "int8", "int4", "fp16")


class ExportError(RuntimeError):
    """The builder failed or its output is incomplete; the message names the folder and what is missing."""


def export(hf_dir: str | Path, out_dir: str | Path, precision: str = "fp32") -> Path:
    """Build `out_dir` (model.onnx, weights, genai_config.json, tokenizer) for the CPU from `hf_dir`."""
    hf_dir, out_dir = Path(hf_dir), Path(out_dir)
    if precision not in PRECISIONS:
        raise ValueError(f"precision {precision!r}: expected one of {PRECISIONS}")
    for name in ("config.json", "model.safetensors", "tokenizer.json"):
        if not (hf_dir / name).is_file():
            raise ExportError(f"{hf_dir}: no {name} (is this the `hf` folder written by `cockpit train`?)")
    if out_dir.exists():
        shutil.rmtree(out_dir)
    with tempfile.TemporaryDirectory(prefix="ep_genai_cache_") as cache:
        cmd = [sys.executable, "-m", "onnxruntime_genai.models.builder", "-i", str(hf_dir), "-o", str(out_dir),
               "-p", precision, "-e", "cpu", "-c", cache]
        proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise ExportError(f"onnxruntime_genai builder failed (exit {proc.returncode}) for {hf_dir}:\n"
                          f"{(proc.stderr or proc.stdout)[-2000:]}")
    missing = [n for n in ("genai_config.json", "model.onnx", "tokenizer.json") if not (out_dir / n).is_file()]
    if missing:
        raise ExportError(f"{out_dir}: the builder wrote no {missing}")
    cfg = json.loads((out_dir / "genai_config.json").read_text())
    cfg["search"].update({"do_sample": False, "max_length": 512})
    (out_dir / "genai_config.json").write_text(json.dumps(cfg, indent=4))
    return out_dir


def folder_size_mb(path: str | Path) -> float:
    return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file()) / 1e6
