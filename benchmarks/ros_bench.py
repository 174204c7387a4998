"""ROS 2 graph performance on this machine: topic latency between processes, image throughput and drops, and the
full stack's camera image -> actuation CAN frame latency.

    python benchmarks/ros_bench.py [--count 500] [--images 200] [--e2e-seconds 12] [--skip-e2e]

Rows:
* two-process latency (DDS backend over loopback, one-way, same host clock): a small message
  (edgepilot_interfaces/VehicleState at 100 Hz) and a 256x512 RGB camera image (393 KB) at 20 Hz, with drops;
* throughput: images published back to back (reliable), MB/s received;
* end to end in the running sim stack (`sim_stack.launch.xml driver:=e2e`, one process per node, CAN on
  udp_multicast): this process listens to the front camera, the plan, the adas and safety commands and the CAN bus.
  For each plan (stamped with its camera set's stamp): image seen -> plan seen -> next /adas/command -> next
  /safety/command -> next ADAS_CONTROL frame on the bus. Each "next" is the first message after the previous
  stage, so the chain is the latency of the data path at the nodes' rates (adas 50 Hz, safety/can_bridge 100 Hz);
  the sim renders at 10 Hz (perception's input rate).
Goal (issue): small-message p99 <= 2 ms; images keep 20 Hz with no drops.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / 'benchmarks'))

from dds_bench import measure, pct  # noqa: E402


def latency_rows(count: int, images: int) -> list[tuple[str, int, list[float]]]:
    """(label, sent, latencies ms) for the small message and the image at their rates, and the burst."""
    rows = [('VehicleState, 100 Hz', count, measure('state', count, 0.01)),
            ('Image 256x512 rgb8 (393 KB), 20 Hz', images, measure('image', images, 0.05))]
    return rows


def throughput(images: int) -> tuple[int, float]:
    """(received, MB/s) for images published back to back (reliable, KEEP_LAST 10): bytes between the first and
    the last arrival over that time."""
    from edgepilot import ros
    from edgepilot.ros import msgs
    from edgepilot.ros.dds import SingleThreadedExecutor

    topic = f'/bench_burst_{os.getpid()}'
    ctx = ros.init(backend='dds', signal_handlers=False)
    node = ros.Node('bench_burst_sub')
    arrivals: list[int] = []
    sizes: list[int] = []

    def on_msg(m) -> None:
        arrivals.append(time.monotonic_ns())
        sizes.append(len(m.data))

    node.create_subscription(msgs.get_message('sensor_msgs/msg/Image'), topic, on_msg, 10)
    proc = subprocess.Popen([sys.executable, str(ROOT / 'benchmarks' / 'dds_bench.py'), '--role', 'pub', '--kind',
                             'image', '--count', str(images), '--topic', topic, '--period', '0'], env=dict(os.environ))
    ex = SingleThreadedExecutor(context=ctx)
    ex.add_node(node)
    ex.spin_until(lambda: len(arrivals) >= images + 20 or proc.poll() is not None, 120)
    proc.wait(timeout=30)
    ros.shutdown(ctx)
    arrivals, sizes = arrivals[20:], sizes[20:]          # the publisher's first 20 are warm-up
    if len(arrivals) < 2:
        return len(arrivals), 0.0
    return len(arrivals), sum(sizes[1:]) / ((arrivals[-1] - arrivals[0]) / 1e9) / 1e6


def e2e_stack(seconds: float) -> dict:
    """Run sim_stack driver:=e2e (real time, one process per node) and time image -> CAN actuation frames."""
    from cyclonedds.core import InstanceState, ReadCondition, SampleState, ViewState, WaitSet
    from cyclonedds.util import duration

    from canbus.bus import open_bus
    from edgepilot.ros import msgs
    from edgepilot.ros.graph import RosGraph
    from edgepilot.ros.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy

    domain = 1 + uuid.uuid4().int % 200
    port = 44000 + uuid.uuid4().int % 8000
    os.environ['ROS_DOMAIN_ID'] = str(domain)
    os.environ['ROS_AUTOMATIC_DISCOVERY_RANGE'] = 'LOCALHOST'
    env = dict(os.environ, EDGEPILOT_ROS_BACKEND='dds', PYTHONPATH=str(ROOT))
    graph = RosGraph(domain)
    topics = {'/sensing/camera/front/image_raw': 'sensor_msgs/msg/Image',
              '/perception/e2e/trajectory': 'nav_msgs/msg/Path',
              '/adas/command': 'edgepilot_interfaces/msg/ActuationCommand',
              '/safety/command': 'edgepilot_interfaces/msg/ActuationCommand'}
    readers = {}
    ws = WaitSet(graph.participant)
    for t, ty in topics.items():
        best_effort = t.startswith('/sensing/')
        r = graph.subscribe_raw(t, ty, QoSProfile(depth=1000, reliability=ReliabilityPolicy.BEST_EFFORT if best_effort
                                                 else ReliabilityPolicy.RELIABLE,
                                                 durability=DurabilityPolicy.VOLATILE))
        ws.attach(ReadCondition(r, SampleState.NotRead | ViewState.Any | InstanceState.Any))
        readers[t] = r
    seen: dict[str, list[tuple[int, int]]] = {t: [] for t in topics}      # (arrival ns, header stamp ns)
    can_times: list[int] = []
    bus = open_bus(f'udp_multicast:default@{port}')
    stop = threading.Event()

    def can_loop() -> None:
        while not stop.is_set():
            f = bus.recv(0.1)
            if f is not None and f.arbitration_id == 256:      # ADAS_CONTROL
                can_times.append(time.monotonic_ns())

    th = threading.Thread(target=can_loop, daemon=True)
    th.start()
    cmd = [sys.executable, '-m', 'edgepilot.cli', 'launch', 'edgepilot_nodes', 'sim_stack.launch.xml',
           'scenario:=highway_traffic', 'driver:=e2e', f'out_dir:={ROOT / "out" / "ros_bench"}',
           f'can_bus:=udp_multicast:default@{port}']
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    end = time.monotonic() + seconds + 8.0     # start-up (model load) + measured window
    try:
        while time.monotonic() < end and proc.poll() is None:
            ws.wait(duration(milliseconds=50))
            now = time.monotonic_ns()
            for t, r in readers.items():
                for s in r.take(N=256):
                    if getattr(s, 'data', None) is None:
                        continue
                    m = msgs.deserialize(s.data, topics[t])
                    seen[t].append((now, m.header.stamp.sec * 1_000_000_000 + m.header.stamp.nanosec))
    finally:
        from edgepilot.ros.launch import interrupt_process_group

        interrupt_process_group(proc)
        stop.set()
        th.join(2)
        bus.shutdown()
        graph.close()
    img_at = {stamp: t for t, stamp in seen['/sensing/camera/front/image_raw']}
    adas = np.array([t for t, _ in seen['/adas/command']])
    safety = np.array([t for t, _ in seen['/safety/command']])
    can = np.array(sorted(can_times))
    stages = {'image->plan': [], 'plan->adas': [], 'adas->safety': [], 'safety->CAN': [], 'image->CAN': []}
    for t_plan, stamp in seen['/perception/e2e/trajectory']:
        t_img = img_at.get(stamp)
        if t_img is None:
            continue
        chain = [t_img, t_plan]
        for arr in (adas, safety, can):
            i = np.searchsorted(arr, chain[-1], side='right')
            if i >= len(arr):
                break
            chain.append(int(arr[i]))
        if len(chain) < 5:
            continue
        for key, (a, b) in zip(('image->plan', 'plan->adas', 'adas->safety', 'safety->CAN'),
                               zip(chain, chain[1:])):
            stages[key].append((b - a) / 1e6)
        stages['image->CAN'].append((chain[-1] - chain[0]) / 1e6)
    images = seen['/sensing/camera/front/image_raw']
    span = (images[-1][0] - images[0][0]) / 1e9 if len(images) > 1 else 0.0
    return {'stages': stages, 'images': len(images), 'image_rate_hz': (len(images) - 1) / span if span else 0.0,
            'plans': len(seen['/perception/e2e/trajectory']), 'can_frames': len(can)}


def row(label: str, lat: list[float], sent: int | None = None) -> str:
    if not lat:
        return f'{label:<40} {"n/a":>5}'
    drops = '' if sent is None else f' {sent - len(lat):6d}'
    return (f'{label:<40} {len(lat):5d} {pct(lat, 50):8.2f} {pct(lat, 99):8.2f} {max(lat):8.2f}'
            f' {float(np.mean(lat)):8.2f}{drops}')


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--count', type=int, default=500, help='small messages (default 500)')
    ap.add_argument('--images', type=int, default=200, help='images per image row (default 200)')
    ap.add_argument('--e2e-seconds', type=float, default=12.0, help='measured seconds of the full stack (12)')
    ap.add_argument('--skip-e2e', action='store_true', help='only the two-process rows')
    args = ap.parse_args()
    print(f'machine: {os.cpu_count()} CPUs; DDS backend (Cyclone DDS over loopback), XCDR1 codec')
    print(f'{"two-process topic latency (ms)":<40} {"n":>5} {"p50":>8} {"p99":>8} {"max":>8} {"mean":>8} {"drops":>6}')
    for label, sent, lat in latency_rows(args.count, args.images):
        print(row(label, lat, sent))
    n, mbps = throughput(args.images)
    print(f'throughput: {n} of {args.images} images (393 KB) published back to back (reliable) received, '
          f'{mbps:.1f} MB/s ({mbps / 0.393:.0f} images/s)')
    if args.skip_e2e:
        return
    res = e2e_stack(args.e2e_seconds)
    print()
    print(f'full stack, driver e2e (sim renders at 10 Hz): {res["images"]} front images '
          f'({res["image_rate_hz"]:.1f} Hz seen), {res["plans"]} plans, {res["can_frames"]} ADAS_CONTROL frames')
    print(f'{"stage (ms)":<40} {"n":>5} {"p50":>8} {"p99":>8} {"max":>8} {"mean":>8}')
    for key, lat in res['stages'].items():
        print(row(key, lat))


if __name__ == '__main__':
    main()
