"""DDS backend: ROS 2 wire names, two-process pub/sub (default and localhost-only discovery), run_node, sim time."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import numpy as np
import pytest

from edgepilot import ros
from edgepilot.ros.dds import DdsBackend, SingleThreadedExecutor, idl_type_for
from edgepilot.ros.msgs import edgepilot_interfaces, get_message, rosgraph_msgs, serialize, std_msgs

REPO = Path(__file__).resolve().parents[1]
TIMEOUT = 20.0

PUBLISHER = textwrap.dedent('''
    import numpy as np
    from edgepilot import ros
    from edgepilot.ros.msgs import edgepilot_interfaces, sensor_msgs

    class TestPublisher(ros.Node):
        def __init__(self, **kw):
            super().__init__('test_pub', **kw)
            self.declare_parameter('speed', 1.0)
            self.state_pub = self.create_publisher(edgepilot_interfaces.msg.VehicleState, 'state', 10)
            self.img_pub = self.create_publisher(sensor_msgs.msg.Image, 'image', ros.qos_profile_sensor_data)
            self.n = 0
            self.create_timer(0.02, self.tick)

        def tick(self):
            self.n += 1
            st = edgepilot_interfaces.msg.VehicleState(speed_mps=self.get_parameter('speed').value,
                                                       gear=edgepilot_interfaces.msg.VehicleState.GEAR_DRIVE,
                                                       e2e_rejections=self.n, can_valid=True)
            st.header.frame_id = self.get_fully_qualified_name()
            self.state_pub.publish(st)
            img = sensor_msgs.msg.Image(height=4, width=8, encoding='rgb8', step=24,
                                        data=np.arange(96, dtype=np.uint8))
            self.img_pub.publish(img)

    class Crasher(ros.Node):
        def __init__(self, **kw):
            super().__init__('crasher', **kw)
            raise RuntimeError('sensor calibration missing')
''')


@pytest.fixture
def helper_dir(tmp_path):
    (tmp_path / 'dds_helper_nodes.py').write_text(PUBLISHER)
    return tmp_path


def _domain() -> int:
    return 100 + os.getpid() % 100


def _env(domain: int, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env['ROS_DOMAIN_ID'] = str(domain)
    env['PYTHONPATH'] = os.pathsep.join(p for p in [str(REPO), env.get('PYTHONPATH', '')] if p)
    env['EDGEPILOT_ROS_BACKEND'] = 'dds'
    env.update(extra)
    return env


def _start_publisher(helper_dir: Path, domain: int, topic_prefix: str, **extra_env: str) -> subprocess.Popen:
    cmd = [sys.executable, '-m', 'edgepilot.ros.run_node', 'dds_helper_nodes:TestPublisher', '--ros-args',
           '-r', '__node:=wire_pub', '-r', f'__ns:=/{topic_prefix}', '-p', 'speed:=12.5',
           '-r', 'image:=camera/image_raw']
    return subprocess.Popen(cmd, cwd=helper_dir, env=_env(domain, **extra_env), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _stop(proc: subprocess.Popen) -> tuple[int, str]:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        _out, err = proc.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        _out, err = proc.communicate()
    return proc.returncode, err


def _receive_from_subprocess(helper_dir: Path, domain: int, monkeypatch, **extra_env: str):
    for k, v in extra_env.items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv('ROS_DOMAIN_ID', str(domain))
    prefix = 't' + uuid.uuid4().hex[:8]
    proc = _start_publisher(helper_dir, domain, prefix, **extra_env)
    ctx = ros.init(backend='dds', signal_handlers=False)
    try:
        node = ros.Node('wire_sub', context=ctx)
        states, images = [], []
        node.create_subscription(edgepilot_interfaces.msg.VehicleState, f'/{prefix}/state', states.append, 10)
        node.create_subscription(get_message('sensor_msgs/msg/Image'), f'/{prefix}/camera/image_raw', images.append,
                                 ros.qos_profile_sensor_data)
        ex = SingleThreadedExecutor(context=ctx)
        ex.add_node(node)
        ok = ex.spin_until(lambda: len(states) >= 3 and len(images) >= 1 or proc.poll() is not None, TIMEOUT)
        assert ok and proc.poll() is None, f'no data from publisher; stderr: {_stop(proc)[1]}'
        return proc, states, images, ctx, prefix
    except BaseException:
        _stop(proc)
        ros.shutdown(ctx)
        raise


def test_two_process_pub_sub_over_dds(helper_dir, monkeypatch):
    proc, states, images, ctx, prefix = _receive_from_subprocess(helper_dir, _domain(), monkeypatch)
    try:
        st = states[-1]
        assert st.speed_mps == 12.5 and st.gear == 3 and st.can_valid is True and st.e2e_rejections >= 1
        assert st.header.frame_id == f'/{prefix}/wire_pub'  # node name + namespace remaps applied
        counters = [s.e2e_rejections for s in states]
        assert counters == sorted(counters)  # reliable, in order
        img = images[-1]
        assert (img.height, img.width, img.encoding) == (4, 8, 'rgb8')
        assert img.data.tolist() == list(range(96))
    finally:
        rc, err = _stop(proc)
        ros.shutdown(ctx)
    assert rc == 0, err  # clean shutdown on SIGTERM


def test_localhost_only_discovery_on_loopback(helper_dir, monkeypatch):
    proc, states, _images, ctx, _prefix = _receive_from_subprocess(
        helper_dir, _domain() + 1, monkeypatch, ROS_AUTOMATIC_DISCOVERY_RANGE='LOCALHOST')
    try:
        assert states[-1].speed_mps == 12.5
        assert isinstance(ctx.backend, DdsBackend)
    finally:
        rc, err = _stop(proc)
        ros.shutdown(ctx)
    assert rc == 0, err


def test_wire_topic_and_type_names_are_ros2(monkeypatch):
    from cyclonedds.builtin import BuiltinDataReader, BuiltinTopicDcpsParticipant, BuiltinTopicDcpsPublication

    monkeypatch.setenv('ROS_DOMAIN_ID', str(_domain() + 2))
    ctx = ros.init(backend='dds', signal_handlers=False)
    try:
        node = ros.Node('namer', context=ctx, namespace='/veh')
        node.create_publisher(edgepilot_interfaces.msg.VehicleState, 'state', 10)
        node.create_publisher(std_msgs.msg.String, '/chatter', 10)
        participant = ctx.backend.participant
        reader = BuiltinDataReader(participant, BuiltinTopicDcpsPublication)
        found = {}
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline and len(found) < 3:
            for s in reader.take(N=100):
                found[s.topic_name] = s.type_name
            time.sleep(0.05)
        assert found.get('rt/veh/state') == 'edgepilot_interfaces::msg::dds_::VehicleState_'
        assert found.get('rt/chatter') == 'std_msgs::msg::dds_::String_'
        assert found.get('ros_discovery_info') == 'rmw_dds_common::msg::dds_::ParticipantEntitiesInfo_'
        preader = BuiltinDataReader(participant, BuiltinTopicDcpsParticipant)
        user_data = [s.qos for s in preader.take(N=10)]
        assert any('enclave=/;' in str(q) for q in user_data)
    finally:
        ros.shutdown(ctx)


def test_idl_type_names_and_codec_routing():
    cls = idl_type_for('sensor_msgs/msg/Image')
    assert cls.__idl_typename__ == 'sensor_msgs::msg::dds_::Image_'
    img = get_message('sensor_msgs/msg/Image')(height=2, data=b'\x01\x02')
    assert cls.wrap(serialize(img)).serialize() == serialize(img)
    assert cls.deserialize(serialize(img)).data == serialize(img)


def test_in_process_participants_sim_time_and_transient_local(monkeypatch):
    """Two contexts (two participants) in one process: /clock drives a use_sim_time node's timers."""
    monkeypatch.setenv('ROS_DOMAIN_ID', str(_domain() + 3))
    a = ros.Context(DdsBackend())
    b = ros.Context(DdsBackend())
    try:
        topic = '/c' + uuid.uuid4().hex[:6]
        sim = ros.Node('sim', context=a)
        clock_pub = sim.create_publisher(rosgraph_msgs.msg.Clock, '/clock', 10)
        latched = sim.create_publisher(std_msgs.msg.String, topic, ros.qos_profile_transient_local)
        latched.publish(std_msgs.msg.String(data='map-v1'))
        history = sim.create_publisher(std_msgs.msg.String, topic + '_h', ros.QoSProfile(
            depth=3, durability=ros.DurabilityPolicy.TRANSIENT_LOCAL))
        for i in range(5):
            history.publish(std_msgs.msg.String(data=f'h{i}'))
        follower = ros.Node('follower', context=b, cli_args=['--ros-args', '-p', 'use_sim_time:=true'])
        fired, late = [], []
        follower.create_timer(0.1, lambda: fired.append(follower.get_clock().now().nanoseconds))
        follower.create_subscription(std_msgs.msg.String, topic, lambda m: late.append(m.data),
                                     ros.qos_profile_transient_local)
        late_h: list[str] = []
        follower.create_subscription(std_msgs.msg.String, topic + '_h', lambda m: late_h.append(m.data),
                                     ros.QoSProfile(depth=10, durability=ros.DurabilityPolicy.TRANSIENT_LOCAL))
        ex_a, ex_b = SingleThreadedExecutor(context=a), SingleThreadedExecutor(context=b)
        ex_a.add_node(sim)
        ex_b.add_node(follower)
        assert ex_b.spin_until(lambda: bool(late), TIMEOUT)
        assert late == ['map-v1']  # transient local reaches a late joiner
        # ... with as many samples as the publisher's depth (the durability service history, as rmw_cyclonedds)
        assert ex_b.spin_until(lambda: len(late_h) >= 3, TIMEOUT) and late_h == ['h2', 'h3', 'h4']
        assert clock_pub.get_subscription_count() >= 1 or ex_b.spin_until(
            lambda: clock_pub.get_subscription_count() >= 1, TIMEOUT)
        Clock = rosgraph_msgs.msg.Clock
        t_ns = 0
        deadline = time.monotonic() + TIMEOUT
        while len(fired) < 3 and time.monotonic() < deadline:
            t_ns += 50_000_000
            clock_pub.publish(Clock(clock=ros.Time(t_ns).to_msg()))
            ex_b.spin_once(0.02)
        assert fired[:3] == [100_000_000, 200_000_000, 300_000_000]
        assert follower.get_clock().now().nanoseconds >= 300_000_000
    finally:
        a.shutdown()
        b.shutdown()


def test_run_node_reports_crash_and_unknown_targets(helper_dir):
    env = _env(_domain() + 4)
    crash = subprocess.run([sys.executable, '-m', 'edgepilot.ros.run_node', 'dds_helper_nodes:Crasher'],
                           cwd=helper_dir, env=env, capture_output=True, text=True, timeout=TIMEOUT)
    assert crash.returncode == 1
    assert 'sensor calibration missing' in crash.stderr and 'crashed' in crash.stderr
    missing = subprocess.run([sys.executable, '-m', 'edgepilot.ros.run_node', 'no_pkg', 'no_exec'],
                             cwd=helper_dir, env=env, capture_output=True, text=True, timeout=TIMEOUT)
    assert missing.returncode == 2 and "no executable 'no_exec' in package 'no_pkg'" in missing.stderr


def test_run_node_entry_point_resolution(monkeypatch):
    from edgepilot.ros import run_node

    class FakeEP:
        name = 'demo.talker'

        def load(self):
            return 'loaded'

    monkeypatch.setattr(run_node, 'entry_points', lambda group: [FakeEP()] if group == 'edgepilot.nodes' else [])
    assert run_node.resolve_target('demo', 'talker') == 'loaded'
    assert run_node.resolve_target('edgepilot.ros.lockstep:LockstepExecutor').__name__ == 'LockstepExecutor'
    with pytest.raises(run_node.TargetNotFound, match='known: demo.talker'):
        run_node.resolve_target('demo', 'nope')


def test_main_for_wraps_a_node_class():
    from edgepilot.ros.run_node import main_for

    class N(ros.Node):
        pass

    main = main_for(N)
    assert callable(main) and 'N' in main.__doc__


def test_image_payload_large_over_dds(monkeypatch):
    """A full 256x512 rgb8 image crosses between two participants intact."""
    monkeypatch.setenv('ROS_DOMAIN_ID', str(_domain() + 5))
    a, b = ros.Context(DdsBackend()), ros.Context(DdsBackend())
    try:
        Image = get_message('sensor_msgs/msg/Image')
        topic = '/img' + uuid.uuid4().hex[:6]
        pub = ros.Node('cam', context=a).create_publisher(Image, topic, 1)
        got = []
        sub_node = ros.Node('viewer', context=b)
        sub_node.create_subscription(Image, topic, got.append, 1)
        ex = SingleThreadedExecutor(context=b)
        ex.add_node(sub_node)
        ex.spin_until(lambda: pub.get_subscription_count() >= 1, TIMEOUT)
        data = np.random.default_rng(1).integers(0, 256, 256 * 512 * 3, dtype=np.uint8)
        img = Image(height=256, width=512, encoding='rgb8', step=1536, data=data)
        pub.publish(img)
        assert ex.spin_until(lambda: bool(got), TIMEOUT)
        assert got[0] == img
    finally:
        a.shutdown()
        b.shutdown()
