"""Node API: name resolution, remaps, parameters (-p, params files, overrides), clock, QoS (lockstep context)."""

from __future__ import annotations

import textwrap

import pytest

from edgepilot import ros
from edgepilot.ros import Parameter, ParameterNotDeclaredException, QoSProfile, qos
from edgepilot.ros.lockstep import LockstepExecutor
from edgepilot.ros.msgs import std_msgs
from edgepilot.ros.names import InvalidNameError, expand_topic_name
from edgepilot.ros.params import InvalidParameterTypeException, parse_ros_args


def make(name='n', *, args=None, **kw):
    ex = LockstepExecutor(args=args)
    return ex, ros.Node(name, context=ex.context, **kw)


@pytest.mark.parametrize('topic,ns,expected', [
    ('chatter', '', '/chatter'),
    ('chatter', '/ns', '/ns/chatter'),
    ('a/b', 'ns', '/ns/a/b'),
    ('/abs', '/ns', '/abs'),
    ('~', '/ns', '/ns/n'),
    ('~/priv', '/ns', '/ns/n/priv'),
    ('~/priv', '', '/n/priv'),
    ('{node}/x', '/ns', '/ns/n/x'),
])
def test_topic_expansion(topic, ns, expected):
    assert expand_topic_name(topic, 'n', ns) == expected


@pytest.mark.parametrize('bad', ['', 'a//b', '1abc', 'a/', 'with space', '~x'])
def test_invalid_topic_names(bad):
    with pytest.raises(InvalidNameError):
        expand_topic_name(bad, 'n', '/')


def test_namespace_and_resolution():
    _ex, node = make('cam', namespace='vehicle')
    assert node.get_name() == 'cam' and node.get_namespace() == '/vehicle'
    assert node.get_fully_qualified_name() == '/vehicle/cam'
    pub = node.create_publisher(std_msgs.msg.String, 'image', 10)
    assert pub.topic_name == '/vehicle/image'
    assert node.create_publisher(std_msgs.msg.String, '~/debug', 1).topic_name == '/vehicle/cam/debug'


def test_remaps_node_name_namespace_and_topics():
    _ex, node = make('talker', cli_args=['--ros-args', '-r', '__node:=speaker', '-r', '__ns:=/robot',
                                         '-r', 'chatter:=/global/chat', '-r', 'other:=renamed',
                                         '-r', 'listener:x:=never'])
    assert node.get_name() == 'speaker' and node.get_namespace() == '/robot'
    assert node.resolve_topic_name('chatter') == '/global/chat'
    assert node.resolve_topic_name('/robot/chatter') == '/global/chat'  # matched after expansion
    assert node.resolve_topic_name('other') == '/robot/renamed'
    assert node.resolve_topic_name('x') == '/robot/x'  # rule targeted at another node


def test_global_args_apply_to_every_node_and_node_targeted_remaps():
    ex = LockstepExecutor(args=['prog', '--ros-args', '-r', 'a:=b', '-r', 'two:__node:=second', '-p', 'one:k:=1'])
    one = ros.Node('one', context=ex.context)
    two = ros.Node('two', context=ex.context)
    assert two.get_name() == 'second'
    assert one.resolve_topic_name('a') == '/b' and two.resolve_topic_name('a') == '/b'
    assert one.declare_parameter('k', 0).value == 1
    assert two.declare_parameter('k', 0).value == 0


def test_parameters_from_cli_yaml_typed():
    _ex, node = make('acc', cli_args=['--ros-args', '-p', 'gap:=1.8', '-p', 'enabled:=true', '-p', 'n:=3',
                                      '-p', 'name:=hello', '-p', 'lst:=[1, 2]', '-p', 'speed:=30'])
    assert node.declare_parameter('gap', 2.0).value == 1.8
    assert node.declare_parameter('enabled', False).value is True
    assert node.declare_parameter('n', 1).value == 3
    assert node.declare_parameter('name', '').value == 'hello'
    assert node.declare_parameter('lst', [0]).value == [1, 2]
    speed = node.declare_parameter('speed', 25.0)  # int override on a double parameter is promoted
    assert speed.value == 30.0 and isinstance(speed.value, float)
    assert node.declare_parameter('untouched', 7).value == 7
    assert node.get_parameter('gap').value == 1.8


def test_parameter_errors_are_clear():
    _ex, node = make('acc', cli_args=['--ros-args', '-p', 'gap:=abc'])
    with pytest.raises(ParameterNotDeclaredException, match="'missing' is not declared on node /acc"):
        node.get_parameter('missing')
    with pytest.raises(InvalidParameterTypeException, match="'gap'.*DOUBLE"):
        node.declare_parameter('gap', 2.0)
    node.declare_parameter('ok', 1)
    with pytest.raises(ros.params.ParameterAlreadyDeclaredException):
        node.declare_parameter('ok', 2)


def test_params_file_wildcards_namespaces_and_precedence(tmp_path):
    f = tmp_path / 'params.yaml'
    f.write_text(textwrap.dedent('''
        /**:
          ros__parameters:
            use_sim_time: false
            rate_hz: 10
            shared: from_wildcard
        acc:
          ros__parameters:
            rate_hz: 20
            gains: {kp: 0.5, ki: 0.1}
        /vehicle/acc:
          ros__parameters:
            rate_hz: 50
        /other/acc:
          ros__parameters:
            rate_hz: 99
        vehicle:
          lka:
            ros__parameters:
              rate_hz: 25
    '''))
    args = ['--ros-args', '--params-file', str(f)]
    _ex, acc = make('acc', namespace='/vehicle', cli_args=args)
    assert acc.declare_parameter('rate_hz', 1).value == 50  # exact FQN beats bare name beats /**
    assert acc.declare_parameter('shared', '').value == 'from_wildcard'
    assert acc.declare_parameter('gains.kp', 0.0).value == 0.5  # nested dicts become dotted names
    _ex, lka = make('lka', namespace='/vehicle', cli_args=args)
    assert lka.declare_parameter('rate_hz', 1).value == 25
    # -p after the file wins
    _ex, acc2 = make('acc', namespace='/vehicle', cli_args=args + ['-p', 'rate_hz:=77'])
    assert acc2.declare_parameter('rate_hz', 1).value == 77
    # constructor overrides win over everything
    _ex, acc3 = make('acc', namespace='/vehicle', cli_args=args, parameter_overrides=[Parameter('rate_hz', value=5)])
    assert acc3.declare_parameter('rate_hz', 1).value == 5


def test_params_file_errors(tmp_path):
    with pytest.raises(ros.params.ParameterError, match='not found'):
        make('n', cli_args=['--ros-args', '--params-file', str(tmp_path / 'nope.yaml')])
    bad = tmp_path / 'bad.yaml'
    bad.write_text('- a\n- b\n')
    with pytest.raises(ros.params.ParameterError, match='mapping'):
        make('n', cli_args=['--ros-args', '--params-file', str(bad)])


def test_set_parameters_and_callbacks():
    _ex, node = make('n')
    node.declare_parameter('gain', 1.0)
    seen = []

    def cb(params):
        seen.extend(p.name for p in params)
        return ros.SetParametersResult(successful=params[0].value < 10, reason='too big')

    node.add_on_set_parameters_callback(cb)
    assert node.set_parameters([Parameter('gain', value=2.0)])[0].successful
    assert node.get_parameter('gain').value == 2.0
    assert not node.set_parameters([Parameter('gain', value=20.0)])[0].successful
    assert node.get_parameter('gain').value == 2.0
    assert not node.set_parameters([Parameter('nope', value=1)])[0].successful
    assert seen == ['gain', 'gain']


def test_parse_ros_args_rejects_unknown_flags():
    with pytest.raises(ValueError, match='unknown ROS argument'):
        parse_ros_args(['--ros-args', '--bogus'])
    a = parse_ros_args(['prog', 'pos', '--ros-args', '-p', 'x:=1', '--', 'tail'])
    assert a.non_ros_args == ['prog', 'pos', 'tail'] and a.params == [(None, 'x', 1)]


def test_clock_time_and_logger(capsys):
    ex, node = make('n')
    ex.spin_until(1_500_000_000)
    now = node.get_clock().now()
    assert now.nanoseconds == 1_500_000_000
    msg = now.to_msg()
    assert (msg.sec, msg.nanosec) == (1, 500_000_000)
    assert ros.Time.from_msg(msg) == now
    assert (now - ros.Time(500_000_000)).nanoseconds == 1_000_000_000
    node.get_logger().info('hello world')
    node.get_logger().warn('careful', once=True)
    node.get_logger().warn('careful', once=True)
    node.get_logger().debug('hidden')
    err = capsys.readouterr().err
    assert '[INFO] [1.500000000] [n]: hello world' in err
    assert err.count('careful') == 1 and 'hidden' not in err


def test_qos_profiles_mirror_ros():
    assert qos.qos_profile_default.depth == 10 and qos.qos_profile_default.is_reliable
    assert not qos.qos_profile_sensor_data.is_reliable and qos.qos_profile_sensor_data.depth == 5
    assert qos.qos_profile_transient_local.is_transient_local
    assert qos.as_qos(3) == QoSProfile(depth=3)
    with pytest.raises(ValueError):
        QoSProfile(depth=0)


def test_destroy_node_and_create_before_init():
    ex, node = make('n')
    node.create_publisher(std_msgs.msg.String, 'x', 1)
    node.destroy_node()
    assert ex.get_nodes() == []
    with pytest.raises(RuntimeError, match='destroyed'):
        node.create_publisher(std_msgs.msg.String, 'x', 1)
    ros.shutdown()
    with pytest.raises(ros.NotInitializedError):
        ros.Node('orphan')


def test_publish_type_checked():
    _ex, node = make('n')
    pub = node.create_publisher(std_msgs.msg.String, 'x', 1)
    with pytest.raises(TypeError, match='expects std_msgs/msg/String'):
        pub.publish(std_msgs.msg.Header())


def test_backend_selection_and_rclpy_import_safety():
    from edgepilot.ros import rclpy_compat
    assert 'lockstep' in ros.available_backends() and 'dds' in ros.available_backends()
    if not rclpy_compat.rclpy_available():  # no ROS 2 here; the module still imports
        with pytest.raises(RuntimeError, match='needs a ROS 2 install'):
            ros.init(backend='rclpy')
    with pytest.raises(ValueError, match='unknown backend'):
        ros.init(backend='zmq')
    ctx = ros.init(backend='lockstep', signal_handlers=False)
    try:
        node = ros.Node('default_ctx_node')  # picks up the default context
        assert node.context is ctx and ctx.backend.name == 'lockstep'
        hits = []
        node.create_timer(0.5, lambda: hits.append(1))
        ctx.backend.executor.spin_until(10**9)
        assert hits == [1, 1]
        with pytest.raises(TypeError, match='LockstepExecutor'):
            ros.spin(node)
    finally:
        ros.shutdown()
    assert not ros.ok()
