"""CAN codec throughput: frames encoded + decoded per second, E2E included.

Why: the simulator sends ~700 frames/s (10 ms chassis/ADAS messages); this shows the headroom of
the pure-Python codec on the machine it runs on.

Run: python benchmarks/can_bench.py [--seconds 1.0]
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass

from canbus.codec import VehicleCodec
from canbus.e2e import VALID_STATUSES, p5_check, p5_protect

CASES = {
    "VEHICLE_DYNAMICS": dict(VEHICLE_SPEED=88.8, YAW_RATE=-3.25, LONG_ACCEL=0.4, LAT_ACCEL=-1.2),
    "ADAS_CONTROL": dict(STEER_ANGLE_REQ=-12.5, ACCEL_REQ=1.25, CONTROLS_ACTIVE=1),
    "HVAC_CMD": dict(HVAC_CMD_DRIVER_TEMP=21.5, HVAC_CMD_PASSENGER_TEMP=22.0, HVAC_CMD_DRIVER_FAN=3,
                     HVAC_CMD_PASSENGER_FAN=2, HVAC_CMD_AC=1, HVAC_CMD_RECIRC=0, HVAC_CMD_DEFROST_FRONT=1,
                     HVAC_CMD_DEFROST_REAR=0, HVAC_CMD_REAR_TEMP=21),
    "WINDOW_STATE": dict(WINDOW_POS_FL=0, WINDOW_POS_FR=25, WINDOW_POS_RL=50, WINDOW_POS_RR=100),
}


@dataclass
class Result:
    name: str
    e2e: bool
    frames: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.frames / self.seconds

    @property
    def us_per_frame(self) -> float:
        return 1e6 * self.seconds / self.frames


def bench_message(name: str, signals: dict, seconds: float) -> Result:
    tx, rx = VehicleCodec(), VehicleCodec()
    frame_id = tx.frame_id(name)
    n, t = 0, 0.0
    start = time.perf_counter()
    while True:
        for _ in range(200):
            data = tx.encode_message(name, signals)
            decoded = rx.decode(frame_id, data, t)
            t += 0.01
            if decoded.e2e not in VALID_STATUSES:
                raise RuntimeError(f"{name}: unexpected E2E status {decoded.e2e.value}")
        n += 200
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return Result(name, tx.info(name).protected, n, elapsed)


def bench_e2e_only(seconds: float) -> Result:
    payload = bytes(8)
    n = 0
    start = time.perf_counter()
    while True:
        for i in range(1000):
            p5_check(p5_protect(payload, 0x10A1, i & 0xFF), 0x10A1)
        n += 1000
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return Result("P5 protect+check only", True, n, elapsed)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=1.0, help="measuring time per case")
    args = ap.parse_args()
    results = [bench_message(n, s, args.seconds) for n, s in CASES.items()]
    results.append(bench_e2e_only(args.seconds))
    print(f"{'message':<24} {'E2E':<4} {'frames/s (enc+dec)':>19} {'us/frame':>9}")
    for r in results:
        print(f"{r.name:<24} {'P5' if r.e2e else '-':<4} {r.rate:>19,.0f} {r.us_per_frame:>9.1f}")


if __name__ == "__main__":
    main()
