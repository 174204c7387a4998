"""EdgePilot's ROS 2 runtime: rclpy-style nodes on three interchangeable backends.

    from edgepilot import ros
    from edgepilot.ros.msgs import std_msgs

    ros.init(backend='dds')           # 'lockstep' is driven by LockstepExecutor; 'rclpy'; 'auto' = rclpy else dds
    node = ros.Node('talker')
    pub = node.create_publisher(std_msgs.msg.String, 'chatter', 10)
    node.create_timer(0.1, lambda: pub.publish(std_msgs.msg.String(data='hi')))
    ros.spin(node)                    # until SIGINT/SIGTERM
"""

from __future__ import annotations

import signal
import threading
from typing import Any

from . import msgs
from .clock import Clock, ClockType, Duration, Time
from .node import (Client, Context, Logger, Node, NotInitializedError, Publisher, Service, Subscription, Timer,
                   get_default_context)
from .node import set_default_context as _set_default_context
from .params import Parameter, ParameterNotDeclaredException, SetParametersResult
from .qos import (
    DurabilityPolicy,
    HistoryPolicy,
    QoSProfile,
    ReliabilityPolicy,
    qos_profile_clock,
    qos_profile_default,
    qos_profile_sensor_data,
    qos_profile_system_default,
    qos_profile_transient_local,
)

__all__ = [
    'init', 'shutdown', 'ok', 'spin', 'spin_once', 'create_node', 'get_message', 'available_backends',
    'Context', 'Node', 'Publisher', 'Subscription', 'Timer', 'Logger', 'Parameter', 'ParameterNotDeclaredException',
    'SetParametersResult', 'Clock', 'ClockType', 'Duration', 'Time', 'QoSProfile', 'ReliabilityPolicy',
    'DurabilityPolicy', 'HistoryPolicy', 'qos_profile_default', 'qos_profile_sensor_data',
    'qos_profile_system_default', 'qos_profile_clock', 'qos_profile_transient_local', 'msgs', 'NotInitializedError',
    'get_default_context', 'LockstepExecutor', 'Service', 'Client', 'get_service',
]

get_message = msgs.get_message
get_service = msgs.get_service
_BACKENDS = ('lockstep', 'dds', 'rclpy', 'auto')


def available_backends() -> list[str]:
    from .rclpy_compat import rclpy_available
    return ['lockstep', 'dds'] + (['rclpy'] if rclpy_available() else [])


def make_backend(backend: str, *, domain_id: int | None = None) -> Any:
    """Instantiate a transport by name ('lockstep' needs a LockstepExecutor; use that class instead)."""
    if backend not in _BACKENDS:
        raise ValueError(f'unknown backend {backend!r}; choose one of {_BACKENDS}')
    if backend == 'auto':
        from .rclpy_compat import rclpy_available
        backend = 'rclpy' if rclpy_available() else 'dds'
    if backend == 'dds':
        from .dds import DdsBackend
        return DdsBackend(domain_id)
    if backend == 'rclpy':
        from .rclpy_compat import RclpyBackend, rclpy_available
        if not rclpy_available():
            raise RuntimeError("backend 'rclpy' needs a ROS 2 install (import rclpy failed); use 'dds' or 'auto'")
        return RclpyBackend(domain_id)
    raise ValueError("the lockstep backend is created by LockstepExecutor(); use executor.context")


def _install_signal_handlers(ctx: Context) -> None:
    if threading.current_thread() is not threading.main_thread():
        return

    def handler(signum: int, frame: Any) -> None:  # noqa: ARG001
        ctx.request_shutdown()

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)


def init(args: list[str] | None = None, *, backend: str = 'auto', context: Context | None = None,
         domain_id: int | None = None, signal_handlers: bool = True) -> Context:
    """Create the default context (like ``rclpy.init``); global ``--ros-args`` in ``args`` apply to every node.

    ``backend='lockstep'`` creates a LockstepExecutor whose context becomes the default; get it with
    ``get_default_context()`` and drive it with ``ctx.backend.executor.spin_until(t_ns)``.
    """
    if context is not None:
        _set_default_context(context)
        return context
    if backend == 'lockstep':
        from .lockstep import LockstepExecutor
        ctx = LockstepExecutor(args=args).context
    else:
        ctx = Context(make_backend(backend, domain_id=domain_id), args)
    _set_default_context(ctx)
    if signal_handlers:
        _install_signal_handlers(ctx)
    return ctx


def shutdown(context: Context | None = None) -> None:
    from . import node as _node
    ctx = context or _node._default_context
    if ctx is None:
        return
    ctx.shutdown()
    if ctx is _node._default_context:
        _set_default_context(None)


def ok(context: Context | None = None) -> bool:
    from . import node as _node
    ctx = context or _node._default_context
    return ctx is not None and ctx.ok()


def _executor_for(node: Node) -> Any:
    name = node.context.backend.name
    if name == 'dds':
        from .dds import SingleThreadedExecutor
        return SingleThreadedExecutor(context=node.context)
    if name == 'rclpy':
        from .rclpy_compat import RclpyExecutor
        return RclpyExecutor(node.context)
    raise TypeError('lockstep nodes are driven by their LockstepExecutor (spin_until), not spin()')


def spin(node: Node, executor: Any = None) -> None:
    """Run the node's callbacks until shutdown (SIGINT/SIGTERM) or the node is destroyed."""
    executor = executor or _executor_for(node)
    executor.add_node(node)
    executor.spin()


def spin_once(node: Node, *, executor: Any = None, timeout_sec: float | None = None) -> None:
    executor = executor or _executor_for(node)
    executor.add_node(node)
    executor.spin_once(timeout_sec)


def create_node(node_name: str, **kwargs: Any) -> Node:
    return Node(node_name, **kwargs)


def __getattr__(name: str) -> Any:
    if name == 'LockstepExecutor':
        from .lockstep import LockstepExecutor
        return LockstepExecutor
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
