"""Latency between two processes over the DDS backend, plus codec timings.

    python benchmarks/dds_bench.py [--count 300] [--domain 77]

The publisher (a subprocess running this file with ``--role pub``) stamps each message's header with
``time.time_ns()`` right before ``publish``; the subscriber (this process) measures receive-callback time minus that
stamp, so a figure includes serialization, DDS transport over loopback, deserialization and executor dispatch.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edgepilot import ros  # noqa: E402
from edgepilot.ros import msgs  # noqa: E402

VS = 'edgepilot_interfaces/msg/VehicleState'
IMG = 'sensor_msgs/msg/Image'


def make_image() -> object:
    Image = msgs.get_message(IMG)
    data = np.random.default_rng(0).integers(0, 256, 256 * 512 * 3, dtype=np.uint8)
    return Image(height=256, width=512, encoding='rgb8', step=512 * 3, data=data)


def make_state() -> object:
    return msgs.get_message(VS)(speed_mps=12.0, gear=3, can_valid=True)


def _stamp(msg) -> None:
    t = time.time_ns()
    msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(t, 1_000_000_000)


def run_publisher(count: int, topic: str, kind: str, period: float) -> None:
    ctx = ros.init(backend='dds')
    node = ros.Node('bench_pub')
    typ = msgs.get_message(VS if kind == 'state' else IMG)
    pub = node.create_publisher(typ, topic, 10)
    msg = make_state() if kind == 'state' else make_image()
    deadline = time.monotonic() + 20
    while pub.get_subscription_count() < 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.3)
    for _ in range(count + 20):  # first 20 are warm-up
        if not ctx.ok():
            break
        _stamp(msg)
        pub.publish(msg)
        time.sleep(period)
    time.sleep(0.5)
    ros.shutdown(ctx)


def measure(kind: str, count: int, period: float) -> list[float]:
    topic = f'/bench_{kind}_{os.getpid()}'
    typ = msgs.get_message(VS if kind == 'state' else IMG)
    ctx = ros.init(backend='dds', signal_handlers=False)
    node = ros.Node('bench_sub')
    lat: list[float] = []

    def on_msg(m) -> None:
        now = time.time_ns()
        lat.append((now - (m.header.stamp.sec * 1_000_000_000 + m.header.stamp.nanosec)) / 1e6)

    node.create_subscription(typ, topic, on_msg, 10)
    proc = subprocess.Popen([sys.executable, __file__, '--role', 'pub', '--kind', kind, '--count', str(count),
                             '--topic', topic, '--period', str(period)], env=dict(os.environ))
    from edgepilot.ros.dds import SingleThreadedExecutor
    ex = SingleThreadedExecutor(context=ctx)
    ex.add_node(node)
    ex.spin_until(lambda: len(lat) >= count + 20 or proc.poll() is not None, 120)
    proc.wait(timeout=30)
    ros.shutdown(ctx)
    return lat[20:]


def codec_times(msg, n: int) -> tuple[float, float, float, float]:
    """(ours ser, ours deser, rosbags ser, rosbags deser) in ms per call."""
    store = msgs.get_typestore_with_ours()
    rb = msgs.to_rosbags(msg)
    typename = msg.__msgtype__
    data = msgs.serialize(msg)

    def t(fn) -> float:
        fn()
        start = time.perf_counter()
        for _ in range(n):
            fn()
        return (time.perf_counter() - start) / n * 1e3

    return (t(lambda: msgs.serialize(msg)), t(lambda: msgs.deserialize(data, type(msg))),
            t(lambda: store.serialize_cdr(rb, typename)), t(lambda: store.deserialize_cdr(data, typename)))


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q)) if values else float('nan')


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--role', default='main', choices=['main', 'pub'])
    ap.add_argument('--kind', default='state', choices=['state', 'image'])
    ap.add_argument('--count', type=int, default=300)
    ap.add_argument('--topic', default='/bench')
    ap.add_argument('--period', type=float, default=0.01)
    ap.add_argument('--domain', type=int, default=None)
    args = ap.parse_args()
    if args.domain is not None:
        os.environ['ROS_DOMAIN_ID'] = str(args.domain)
    if args.role == 'pub':
        run_publisher(args.count, args.topic, args.kind, args.period)
        return

    print('codec (ms per call)                ours ser  ours deser  rosbags ser  rosbags deser')
    for name, msg, n in [('VehicleState', make_state(), 20000), ('Image 256x512 rgb8', make_image(), 200)]:
        s, d, rs, rd = codec_times(msg, n)
        print(f'{name:<34} {s:8.4f}  {d:10.4f}  {rs:11.4f}  {rd:13.4f}')
    print()
    print('two-process latency over DDS (ms)   n     p50     p99     max   mean')
    for kind, label, period in [('state', 'VehicleState @100 Hz', 0.01), ('image', 'Image 256x512 rgb8 @30 Hz', 1 / 30)]:
        lat = measure(kind, args.count, period)
        print(f'{label:<34} {len(lat):4d} {pct(lat, 50):7.3f} {pct(lat, 99):7.3f} '
              f'{max(lat) if lat else float("nan"):7.3f} {statistics.fmean(lat) if lat else float("nan"):6.3f}')


if __name__ == '__main__':
    main()
