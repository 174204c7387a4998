"""Camera renderer throughput: frames/s for a typical scene (3-lane road + 10 boxes), one thread.

Run: python benchmarks/camera_bench.py [--seconds 2]
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # single-thread numpy; must happen before importing numpy

import argparse  # noqa: E402
import time  # noqa: E402

from vehicle_sim.camera import Renderer, default_rig, example_scene  # noqa: E402


def bench(width: int, height: int, n_cams: int, seconds: float, supersample: int = 1) -> tuple[float, float]:
    """Return (frames/s per camera image, first-frame ms incl. cache building) driving along the road."""
    scene = example_scene(lanes=3, n_boxes=10, curvature=0.002)
    rig = default_rig(width, height)[:n_cams]
    r = Renderer()
    t0 = time.perf_counter()
    for cam in rig:
        r.render(cam, (0.0, 0.0, 0.0), scene, supersample=supersample)
    first_ms = (time.perf_counter() - t0) * 1e3 / len(rig)
    frames = 0
    t0 = time.perf_counter()
    x = 0.0
    while time.perf_counter() - t0 < seconds:
        x += 0.3  # ~30 m/s at 100 Hz: new tiles get rasterised on the way, as in a real run
        for cam in rig:
            r.render(cam, (x, 0.0, 0.0), scene, supersample=supersample)
            frames += 1
    return frames / (time.perf_counter() - t0), first_ms


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seconds", type=float, default=2.0)
    args = ap.parse_args()
    print(f"{'resolution':>10} {'cameras':>7} {'ss':>3} {'frames/s':>9} {'rig sets/s':>10} {'first ms':>9}")
    for (w, h), n, ss in [((256, 128), 1, 1), ((256, 128), 4, 1), ((512, 256), 1, 1), ((512, 256), 4, 1),
                          ((256, 128), 1, 2)]:
        fps, first = bench(w, h, n, args.seconds, ss)
        print(f"{w:>4}x{h:<5} {n:>7} {ss:>3} {fps:>9.1f} {fps / n:>10.1f} {first:>9.1f}")


if __name__ == "__main__":
    main()
