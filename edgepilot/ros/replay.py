"""Process replay, as openpilot's regression tests do it: re-run one node on the inputs recorded in a bag and diff
what it publishes against what the bag holds.

The node runs alone on a LockstepExecutor: its input topics (whatever it subscribes to) are played from the bag in
recorded order, and simulation time follows the bag's /clock (or, without one, the receive times), so a
deterministic node reproduces its recorded outputs. Outputs are paired by header stamp (in order where a message
has no header) and compared field by field: integers, strings and booleans exactly, floats within `tolerance`
(ONNX Runtime's results differ in the last bits between CPUs). A node whose code or model changed shows up as
missing, extra or differing messages, each named by topic, stamp and field.

`LockstepBagTap` records a lockstep simulation run into a bag (stamped with simulation time), which is how the
reference bag of the test suite is made: `edgepilot scenario run NAME --driver e2e --bag DIR`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import msgs as _msgs
from .bag import BagError, BagWriter, _reader
from .node import Node
from .qos import QoSProfile

__all__ = ['REPLAYABLE', 'ReplayReport', 'LockstepBagTap', 'replay', 'diff_messages']

# nodes whose inputs and outputs are all topics (sim and can_bridge talk to the CAN bus, not replayable here)
REPLAYABLE = {
    'perception': 'edgepilot_nodes.perception_node:PerceptionNode',
    'adas': 'edgepilot_nodes.adas_node:AdasNode',
    'safety': 'edgepilot_nodes.safety_node:SafetyNode',
}


class LockstepBagTap:
    """Records every topic published by the nodes of a lockstep graph, stamped with simulation time."""

    def __init__(self, executor: Any, writer: BagWriter, nodes: list[Node]) -> None:
        self.writer = writer
        self.executor = executor
        self.node = Node('bag_recorder', context=executor.context)
        seen: dict[str, Any] = {}
        for n in nodes:
            for pub in n._publishers:
                if pub.topic_name not in seen:
                    seen[pub.topic_name] = pub
        for topic, pub in sorted(seen.items()):
            q = pub.qos_profile
            writer.add_topic(topic, pub.typename, [(q.is_reliable, q.is_transient_local, 0 if q.keep_all else q.depth)])
            self.node.create_subscription(pub.msg_type, topic, lambda data, t=topic: self._on(t, data),
                                          QoSProfile(depth=1000, reliability=q.reliability,
                                                     durability=q.durability), raw=True)

    def _on(self, topic: str, data: bytes) -> None:
        self.writer.write(topic, data, self.executor.now_ns())

    def close(self) -> dict[str, int]:
        self.node.destroy_node()
        return self.writer.close()


# ----------------------------------------------------------------------------------------------------------------
# diff
# ----------------------------------------------------------------------------------------------------------------


def diff_messages(a: Any, b: Any, tolerance: float, path: str = '') -> list[str]:
    """Differences between two decoded messages: 'field.path: recorded -> replayed' (floats within tolerance)."""
    if isinstance(a, _msgs.Message):
        out = []
        for name in a._fields:
            out += diff_messages(getattr(a, name), getattr(b, name), tolerance, f'{path}.{name}' if path else name)
        return out
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray) or isinstance(a, (list, tuple)):
        a_list, b_list = list(a), list(b)
        if len(a_list) != len(b_list):
            return [f'{path}: {len(a_list)} elements -> {len(b_list)}']
        out = []
        for i, (x, y) in enumerate(zip(a_list, b_list)):
            out += diff_messages(x, y, tolerance, f'{path}[{i}]')
            if len(out) > 20:
                break
        return out
    if isinstance(a, float) or isinstance(b, float) or isinstance(a, np.floating):
        fa, fb = float(a), float(b)
        if (math.isnan(fa) and math.isnan(fb)) or abs(fa - fb) <= tolerance:
            return []
        return [f'{path}: {fa:.6g} -> {fb:.6g}']
    return [] if a == b else [f'{path}: {a!r} -> {b!r}']


def _stamp(msg: Any) -> int | None:
    header = getattr(msg, 'header', None)
    if header is None:
        return None
    return int(header.stamp.sec) * 1_000_000_000 + int(header.stamp.nanosec)


@dataclass
class TopicDiff:
    topic: str
    recorded: int
    replayed: int
    matched: int = 0            # pairs with no difference
    differing: int = 0
    missing: list[int] = field(default_factory=list)    # stamps recorded but not replayed
    extra: list[int] = field(default_factory=list)      # stamps replayed but not recorded
    examples: list[str] = field(default_factory=list)   # first differences, 'stamp field: a -> b'
    max_abs_diff: float = 0.0

    @property
    def ok(self) -> bool:
        return not (self.differing or self.missing or self.extra)


@dataclass
class ReplayReport:
    node: str
    bag: str
    inputs: dict[str, int]              # input topic -> messages played
    outputs: list[TopicDiff]
    tolerance: float

    @property
    def ok(self) -> bool:
        return bool(self.outputs) and all(t.ok for t in self.outputs) and any(t.recorded for t in self.outputs)

    def as_dict(self) -> dict:
        return {'node': self.node, 'bag': self.bag, 'ok': self.ok, 'tolerance': self.tolerance,
                'inputs': self.inputs,
                'outputs': [{**{k: v for k, v in t.__dict__.items() if k not in ('missing', 'extra')},
                             'missing': len(t.missing), 'extra': len(t.extra), 'ok': t.ok} for t in self.outputs]}

    def format(self) -> str:
        lines = [f'replay of {self.node} on {self.bag}: {"OK" if self.ok else "DIFFERENCES"} '
                 f'(floats within {self.tolerance:g})',
                 '  inputs: ' + ', '.join(f'{t} x{n}' for t, n in self.inputs.items())]
        for t in self.outputs:
            lines.append(f'  {t.topic}: recorded {t.recorded}, replayed {t.replayed}, identical {t.matched}, '
                         f'differing {t.differing}, missing {len(t.missing)}, extra {len(t.extra)}, '
                         f'max |diff| {t.max_abs_diff:.3g}')
            lines += [f'      {e}' for e in t.examples]
        return '\n'.join(lines)


def _max_abs(a: Any, b: Any) -> float:
    diffs = diff_messages(a, b, 0.0)
    worst = 0.0
    for d in diffs:
        try:
            x, y = d.rsplit(': ', 1)[1].split(' -> ')
            worst = max(worst, abs(float(x) - float(y)))
        except ValueError:
            continue
    return worst


def _compare(topic: str, typename: str, recorded: list[bytes], replayed: list[bytes], tolerance: float) -> TopicDiff:
    rec = [_msgs.deserialize(d, typename) for d in recorded]
    rep = [_msgs.deserialize(d, typename) for d in replayed]
    out = TopicDiff(topic, len(rec), len(rep))
    if rec and _stamp(rec[0]) is not None:
        by_stamp = {}
        for m in rep:
            by_stamp.setdefault(_stamp(m), []).append(m)
        pairs = []
        for m in rec:
            s = _stamp(m)
            if by_stamp.get(s):
                pairs.append((s, m, by_stamp[s].pop(0)))
            else:
                out.missing.append(s)
        out.extra = [s for s, ms in by_stamp.items() for _ in ms]
    else:
        pairs = [(i, a, b) for i, (a, b) in enumerate(zip(rec, rep))]
        out.missing = list(range(len(rep), len(rec)))
        out.extra = list(range(len(rec), len(rep)))
    for s, a, b in pairs:
        d = diff_messages(a, b, tolerance)
        if d:
            out.differing += 1
            if len(out.examples) < 5:
                out.examples.append(f'stamp {s}: {d[0]}' + (f' (+{len(d) - 1} more)' if len(d) > 1 else ''))
        else:
            out.matched += 1
        out.max_abs_diff = max(out.max_abs_diff, _max_abs(a, b))
    if out.missing and len(out.examples) < 5:
        out.examples.append(f'missing: {len(out.missing)} recorded message(s) not published, '
                            f'first stamp {out.missing[0]}')
    if out.extra and len(out.examples) < 5:
        out.examples.append(f'extra: {len(out.extra)} message(s) not in the recording, first stamp {out.extra[0]}')
    return out


# ----------------------------------------------------------------------------------------------------------------
# replay
# ----------------------------------------------------------------------------------------------------------------


def _node_class(name: str) -> type:
    import importlib
    try:
        target = REPLAYABLE[name]
    except KeyError:
        raise ValueError(f'node {name!r} cannot be replayed from topics alone; choose one of '
                         f'{", ".join(REPLAYABLE)}') from None
    module, attr = target.split(':')
    return getattr(importlib.import_module(module), attr)


def replay(bag: str | Path, node: str, params: dict[str, Any] | None = None, tolerance: float = 1e-3,
           remaps: tuple[str, ...] | None = None) -> ReplayReport:
    """Re-run `node` (a REPLAYABLE name) on the bag's recorded inputs; `params` override its config/<node>.yaml and
    `remaps` ('from:=to') rename its topics. Without remaps, the adas node of a simulation bag gets the sim stack's
    (it plans on /sim/ground_truth/* there)."""
    from edgepilot.runner import GROUND_TRUTH_REMAPS, _ros_args

    from .lockstep import LockstepExecutor

    cls = _node_class(node)
    with _reader(bag) as reader:
        conns = {c.topic: c for c in reader.connections}
        messages = [(c.topic, t, bytes(d)) for c, t, d in reader.messages()]
    if not messages:
        raise BagError(f'{bag}: the bag holds no messages')
    # Simulation time of each message: a bag stamped with simulation time (a lockstep run) carries it as the
    # receive time; otherwise it is the last /clock before the message, or, without /clock, the receive time.
    clock_msgs = [(t, _clock_ns(d)) for topic, t, d in messages if topic == '/clock']
    sim_stamped = bool(clock_msgs) and clock_msgs[0][0] == clock_msgs[0][1]
    times, now = [], None
    for topic, t_recv, data in messages:
        if sim_stamped or not clock_msgs:
            now = t_recv
        elif topic == '/clock':
            now = _clock_ns(data)
        times.append(now if now is not None else clock_msgs[0][1])
    start = 0 if times[0] < 1_000_000_000 else times[0]    # a run recorded from its start: timers from t = 0
    ex = LockstepExecutor(start_ns=start)
    if remaps is None:
        remaps = GROUND_TRUTH_REMAPS if node == 'adas' and '/sim/ground_truth/objects' in conns else ()
    target = cls(context=ex.context, cli_args=_ros_args(node, dict(params or {}), tuple(remaps)))
    inputs = {s.topic_name: s for s in target._subscriptions}
    outputs = {p.topic_name: p.typename for p in target._publishers}
    missing_inputs = [t for t in inputs if t not in conns]
    if len(missing_inputs) == len(inputs):
        raise BagError(f'{bag}: none of {node}\'s inputs ({", ".join(sorted(inputs))}) was recorded')
    recorded_outputs = [t for t in outputs if t in conns]
    if not recorded_outputs:
        raise BagError(f'{bag}: none of {node}\'s outputs ({", ".join(sorted(outputs))}) was recorded; nothing to '
                       f'compare against')
    player = Node('replay_player', context=ex.context)
    pubs = {t: player.create_publisher(s.msg_type, t, s.qos_profile) for t, s in inputs.items() if t in conns}
    capture = Node('replay_capture', context=ex.context)
    replayed: dict[str, list[bytes]] = {t: [] for t in recorded_outputs}
    for t in recorded_outputs:
        capture.create_subscription(_msgs.get_message(outputs[t]), t,
                                    lambda data, t=t: replayed[t].append(bytes(data)), QoSProfile(depth=100000),
                                    raw=True)
    played = {t: 0 for t in pubs}
    for (topic, _t_recv, data), ts in zip(messages, times):
        # the node's timers due at ts fire after the inputs of ts (as in the graph, where its inputs' publishers
        # run first): time is taken to just before ts, the timers at ts fire on the way to the next message
        if ts - 1 > ex.now_ns():
            ex.spin_until(ts - 1)
        if topic in pubs:
            pubs[topic].publish(data)
            played[topic] += 1
            ex.spin_some()
    ex.spin_until(max(ex.now_ns(), times[-1]))
    recorded = {t: [bytes(d) for topic, _t, d in messages if topic == t] for t in recorded_outputs}
    diffs = [_compare(t, outputs[t], recorded[t], replayed[t], tolerance) for t in recorded_outputs]
    for n in (target, player, capture):
        n.destroy_node()
    ex.context.shutdown()
    return ReplayReport(node, str(bag), played, diffs, tolerance)


def _clock_ns(data: bytes) -> int:
    c = _msgs.deserialize(data, 'rosgraph_msgs/msg/Clock').clock
    return int(c.sec) * 1_000_000_000 + int(c.nanosec)
