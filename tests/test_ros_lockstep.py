"""Lockstep executor: deterministic ordering, sim time, copy semantics, QoS depth, transient local, hooks."""

from __future__ import annotations

import numpy as np
import pytest

from edgepilot import ros
from edgepilot.ros import QoSProfile, qos
from edgepilot.ros.lockstep import LockstepExecutor, QuiescenceError
from edgepilot.ros.msgs import edgepilot_interfaces, get_message, rosgraph_msgs, std_msgs

MS = 1_000_000


class Sensor(ros.Node):
    """Publishes VehicleState at 100 Hz with a speed ramp."""

    def __init__(self, **kw):
        super().__init__('sensor', **kw)
        self.pub = self.create_publisher(edgepilot_interfaces.msg.VehicleState, 'vehicle/state', 10)
        self.create_timer(0.01, self.tick)
        self.n = 0

    def tick(self):
        self.n += 1
        msg = edgepilot_interfaces.msg.VehicleState(speed_mps=0.1 * self.n)
        msg.header.stamp = self.get_clock().now().to_msg()
        self.pub.publish(msg)


class Planner(ros.Node):
    """Reacts to every state with a command; runs its own 20 Hz timer too."""

    def __init__(self, log, **kw):
        super().__init__('planner', **kw)
        self.log = log
        self.declare_parameter('gain', 0.5)
        self.pub = self.create_publisher(edgepilot_interfaces.msg.ActuationCommand, 'cmd', 10)
        self.create_subscription(edgepilot_interfaces.msg.VehicleState, 'vehicle/state', self.on_state, 10)
        self.create_timer(0.05, self.slow)
        self.last_speed = 0.0

    def on_state(self, msg):
        self.last_speed = msg.speed_mps
        cmd = edgepilot_interfaces.msg.ActuationCommand(accel_mps2=-self.get_parameter('gain').value * msg.speed_mps)
        cmd.header.stamp = msg.header.stamp
        self.log.append(('state', self.get_clock().now().nanoseconds, round(msg.speed_mps, 6)))
        self.pub.publish(cmd)

    def slow(self):
        self.log.append(('slow', self.get_clock().now().nanoseconds, round(self.last_speed, 6)))


class Recorder(ros.Node):
    def __init__(self, log, **kw):
        super().__init__('recorder', **kw)
        self.create_subscription(edgepilot_interfaces.msg.ActuationCommand, 'cmd',
                                 lambda m: log.append(('cmd', m.header.stamp.sec * 10**9 + m.header.stamp.nanosec,
                                                       round(m.accel_mps2, 6))), 10)


def build_graph():
    log = []
    ex = LockstepExecutor()
    Sensor(context=ex.context)
    Planner(log, context=ex.context)
    Recorder(log, context=ex.context)
    return ex, log


def test_two_identical_graphs_produce_identical_logs():
    ex1, log1 = build_graph()
    ex2, log2 = build_graph()
    ex1.spin_until(2 * 10**9)
    for t in range(0, 2001, 7):  # advancing in different increments must not change anything
        ex2.spin_until(t * MS)
    ex2.spin_until(2 * 10**9)
    assert log1 == log2
    assert len([e for e in log1 if e[0] == 'state']) == 200
    assert len([e for e in log1 if e[0] == 'slow']) == 40
    # each state is followed by its command before the next timer fires (delivery until quiescent)
    first = log1[:3]
    assert first == [('state', 10 * MS, 0.1), ('cmd', 10 * MS, -0.05), ('state', 20 * MS, 0.2)]


def test_timer_order_due_time_then_node_then_creation():
    ex = LockstepExecutor()
    order = []
    a = ros.Node('a', context=ex.context)
    b = ros.Node('b', context=ex.context)
    b.create_timer(0.010, lambda: order.append(('b1', ex.now_ns())))
    a.create_timer(0.010, lambda: order.append(('a1', ex.now_ns())))
    a.create_timer(0.005, lambda: order.append(('a2', ex.now_ns())))
    a.create_timer(0.010, lambda: order.append(('a3', ex.now_ns())))
    ex.spin_until(20 * MS)
    assert order == [('a2', 5 * MS), ('a1', 10 * MS), ('a2', 10 * MS), ('a3', 10 * MS), ('b1', 10 * MS),
                     ('a2', 15 * MS), ('a1', 20 * MS), ('a2', 20 * MS), ('a3', 20 * MS), ('b1', 20 * MS)]
    assert a.get_clock().now().nanoseconds == 20 * MS


def test_timer_cancel_reset_and_late_creation():
    ex = LockstepExecutor()
    n = ros.Node('n', context=ex.context)
    hits = []
    t = n.create_timer(0.1, lambda: hits.append(ex.now_ns()))
    ex.spin_until(250 * MS)
    t.cancel()
    ex.spin_until(500 * MS)
    t.reset()
    ex.spin_until(650 * MS)
    assert hits == [100 * MS, 200 * MS, 600 * MS]


def test_copy_semantics_publisher_and_subscribers_isolated():
    ex = LockstepExecutor()
    n = ros.Node('n', context=ex.context)
    Image = get_message('sensor_msgs/msg/Image')
    got = []

    def mutate(m):
        m.data[0] = 99
        got.append(m)

    n.create_subscription(Image, 'img', mutate, 10)
    n.create_subscription(Image, 'img', got.append, 10)
    pub = n.create_publisher(Image, 'img', 10)
    img = Image(height=1, width=3, encoding='rgb8', data=np.array([1, 2, 3], np.uint8))
    pub.publish(img)
    img.data[1] = 42  # mutation after publish must not leak
    ex.spin_some()
    assert got[0].data.tolist() == [99, 2, 3] and got[1].data.tolist() == [1, 2, 3]
    assert got[0] is not got[1]


def test_keep_last_depth_drops_oldest_and_keep_all_keeps_everything():
    ex = LockstepExecutor()
    n = ros.Node('n', context=ex.context)
    shallow, deep = [], []
    n.create_subscription(std_msgs.msg.String, 't', lambda m: shallow.append(m.data), 2)
    n.create_subscription(std_msgs.msg.String, 't', lambda m: deep.append(m.data),
                          QoSProfile(history=qos.HistoryPolicy.KEEP_ALL))
    pub = n.create_publisher(std_msgs.msg.String, 't', 10)
    for i in range(5):
        pub.publish(std_msgs.msg.String(data=str(i)))
    ex.spin_some()
    assert shallow == ['3', '4'] and deep == ['0', '1', '2', '3', '4']


def test_transient_local_late_joiner_and_reliability_matching():
    ex = LockstepExecutor()
    n = ros.Node('n', context=ex.context)
    latched = n.create_publisher(std_msgs.msg.String, 'map', qos.qos_profile_transient_local)
    latched.publish(std_msgs.msg.String(data='m1'))
    latched.publish(std_msgs.msg.String(data='m2'))
    ex.spin_some()
    late, volatile = [], []
    n.create_subscription(std_msgs.msg.String, 'map', lambda m: late.append(m.data), qos.qos_profile_transient_local)
    n.create_subscription(std_msgs.msg.String, 'map', lambda m: volatile.append(m.data), 10)
    ex.spin_some()
    assert late == ['m2'] and volatile == []
    # a reliable subscription does not match a best-effort publisher (as in DDS)
    reliable = []
    n.create_subscription(std_msgs.msg.String, 'scan', lambda m: reliable.append(m), 10)
    be = n.create_publisher(std_msgs.msg.String, 'scan', qos.qos_profile_sensor_data)
    be.publish(std_msgs.msg.String(data='x'))
    ex.spin_some()
    assert reliable == [] and be.get_subscription_count() == 0


def test_step_hooks_run_before_timers_at_each_instant():
    ex = LockstepExecutor()
    n = ros.Node('n', context=ex.context)
    events = []
    n.create_timer(0.01, lambda: events.append(('timer', ex.now_ns())))
    ex.add_step_hook(lambda t: events.append(('hook', t)))
    ex.spin_until(25 * MS)
    assert events == [('hook', 10 * MS), ('timer', 10 * MS), ('hook', 20 * MS), ('timer', 20 * MS), ('hook', 25 * MS)]


def test_clock_topic_publishing_still_works_and_use_sim_time_is_implied():
    ex = LockstepExecutor()
    sim = ros.Node('sim', context=ex.context, cli_args=['--ros-args', '-p', 'use_sim_time:=true'])
    pub = sim.create_publisher(rosgraph_msgs.msg.Clock, '/clock', 1)
    sim.create_timer(0.1, lambda: pub.publish(rosgraph_msgs.msg.Clock(clock=sim.get_clock().now().to_msg())))
    seen = []
    other = ros.Node('other', context=ex.context)
    other.create_subscription(rosgraph_msgs.msg.Clock, '/clock', lambda m: seen.append(m.clock.nanosec), 1)
    ex.spin_until(300 * MS)
    assert seen == [100 * MS, 200 * MS, 300 * MS]
    assert other.get_clock().now().nanoseconds == 300 * MS


def test_ping_pong_without_end_is_reported():
    ex = LockstepExecutor(max_messages_per_step=100)
    n = ros.Node('n', context=ex.context)
    pub = n.create_publisher(std_msgs.msg.String, 'loop', 10)
    n.create_subscription(std_msgs.msg.String, 'loop', pub.publish, 10)
    pub.publish(std_msgs.msg.String(data='again'))
    with pytest.raises(QuiescenceError, match='/loop'):
        ex.spin_some()


def test_topic_type_conflict_and_foreign_context():
    ex = LockstepExecutor()
    n = ros.Node('n', context=ex.context)
    n.create_publisher(std_msgs.msg.String, 'x', 1)
    with pytest.raises(TypeError, match='already carries'):
        n.create_subscription(std_msgs.msg.Header, 'x', print, 1)
    with pytest.raises(ValueError, match='another context'):
        LockstepExecutor().add_node(n)
    with pytest.raises(ValueError, match='back in time'):
        ex.spin_until(5 * MS)
        ex.spin_until(1 * MS)


def test_raw_subscription_and_raw_publish():
    ex = LockstepExecutor()
    n = ros.Node('n', context=ex.context)
    raw = []
    n.create_subscription(std_msgs.msg.String, 'r', raw.append, 10, raw=True)
    got = []
    n.create_subscription(std_msgs.msg.String, 'r', got.append, 10)
    pub = n.create_publisher(std_msgs.msg.String, 'r', 10)
    data = get_message('std_msgs/msg/String')(data='bytes!')
    from edgepilot.ros.msgs import serialize
    pub.publish(serialize(data))
    ex.spin_some()
    assert raw == [serialize(data)] and got == [data]
