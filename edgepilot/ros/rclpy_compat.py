"""Backend on a real ROS 2 install (rclpy). Import-safe without ROS: rclpy is only imported on use.

Our nodes stay our ``Node`` objects; each gets a hidden ``rclpy.node.Node`` for transport. Messages are converted
field by field between our classes and the rosidl-generated ones (same .msg definitions, so same field names),
keeping node code identical on all backends. Timers, parameters and names are still handled by our Node. This
module cannot be tested without ROS 2 and is kept deliberately thin.
"""

from __future__ import annotations

import importlib
import time
from typing import Any

import numpy as np

from . import msgs as _msgs
from .node import Context, Node, Publisher, Subscription

__all__ = ['rclpy_available', 'RclpyBackend', 'RclpyExecutor', 'to_rosidl', 'from_rosidl']


def rclpy_available() -> bool:
    try:
        importlib.import_module('rclpy')
    except Exception:  # noqa: BLE001 - any import failure means "not available"
        return False
    return True


def _rosidl_class(typename: str) -> type:
    pkg, kind, typ = typename.split('/')
    return getattr(importlib.import_module(f'{pkg}.{kind}'), typ)


def to_rosidl(msg: Any) -> Any:
    """Our message -> rosidl message of the same type."""
    out = _rosidl_class(msg.__msgtype__)()
    for name in msg._fields:
        value = getattr(msg, name)
        if isinstance(value, _msgs.Message):
            value = to_rosidl(value)
        elif isinstance(value, list) and value and isinstance(value[0], _msgs.Message):
            value = [to_rosidl(v) for v in value]
        elif isinstance(value, np.ndarray) and value.dtype == np.uint8:
            value = value.tobytes() if msg._field_types[name].startswith('sequence') else value
        setattr(out, name, value)
    return out


def from_rosidl(obj: Any, typename: str) -> Any:
    """rosidl message -> our message (via CDR, the one representation both sides agree on)."""
    from rclpy.serialization import serialize_message
    return _msgs.deserialize(serialize_message(obj), typename)


class _RclpyPub:
    def __init__(self, rnode: Any, pub: Publisher) -> None:
        self.rpub = rnode.create_publisher(_rosidl_class(pub.typename), pub.topic_name, _rqos(pub.qos_profile))
        self.typename = pub.typename

    def publish(self, msg: Any) -> None:
        self.rpub.publish(to_rosidl(msg))

    def publish_raw(self, data: bytes) -> None:
        from rclpy.serialization import deserialize_message
        self.rpub.publish(deserialize_message(data, _rosidl_class(self.typename)))

    def subscription_count(self) -> int:
        return self.rpub.get_subscription_count()


def _rqos(profile: Any) -> Any:
    from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
    return QoSProfile(
        history=HistoryPolicy.KEEP_ALL if profile.keep_all else HistoryPolicy.KEEP_LAST,
        depth=profile.depth,
        reliability=ReliabilityPolicy.RELIABLE if profile.is_reliable else ReliabilityPolicy.BEST_EFFORT,
        durability=DurabilityPolicy.TRANSIENT_LOCAL if profile.is_transient_local else DurabilityPolicy.VOLATILE,
    )


def _rosidl_srv(typename: str) -> type:
    pkg, _kind, name = typename.split('/')
    return getattr(importlib.import_module(f'{pkg}.srv'), name)


class _RclpyService:
    """Our Service on the hidden rclpy node: rosidl request -> CDR -> Service.handle -> CDR -> rosidl response."""

    def __init__(self, rnode: Any, srv: Any) -> None:
        from rclpy.serialization import deserialize_message, serialize_message
        cls = _rosidl_srv(srv.typename)

        def callback(request: Any, _response: Any) -> Any:
            return deserialize_message(srv.handle(serialize_message(request)), cls.Response)

        self.rsrv = rnode.create_service(cls, srv.srv_name, callback, qos_profile=_rqos(srv.qos_profile))


class _RclpyClient:
    """Our Client on the hidden rclpy node; replies complete our Future from rclpy's."""

    def __init__(self, rnode: Any, cli: Any) -> None:
        self.cls = _rosidl_srv(cli.typename)
        self.cli = cli
        self.rcli = rnode.create_client(self.cls, cli.srv_name, qos_profile=_rqos(cli.qos_profile))

    def service_is_ready(self) -> bool:
        return bool(self.rcli.service_is_ready())

    def send(self, seq: int, request_cdr: bytes) -> None:
        from rclpy.serialization import deserialize_message, serialize_message
        future = self.rcli.call_async(deserialize_message(request_cdr, self.cls.Request))
        future.add_done_callback(lambda f: self.cli.deliver_reply(seq, serialize_message(f.result())))


class RclpyBackend:
    name = 'rclpy'
    supports_services = True

    def __init__(self, domain_id: int | None = None) -> None:
        import rclpy
        self.rclpy = rclpy
        self.rcontext = rclpy.context.Context()
        rclpy.init(context=self.rcontext, domain_id=domain_id)
        self.rnodes: dict[int, Any] = {}

    def attach_node(self, node: Node) -> None:
        self.rnodes[id(node)] = self.rclpy.create_node(node.get_name(), namespace=node.get_namespace(),
                                                       context=self.rcontext,
                                                       start_parameter_services=False)

    def detach_node(self, node: Node) -> None:
        rnode = self.rnodes.pop(id(node), None)
        if rnode is not None:
            rnode.destroy_node()

    def time_source(self, node: Node) -> None:
        return None

    def create_publisher(self, pub: Publisher) -> _RclpyPub:
        return _RclpyPub(self.rnodes[id(pub.node)], pub)

    def create_subscription(self, sub: Subscription) -> Any:
        typename = sub.typename
        rnode = self.rnodes[id(sub.node)]
        if sub.raw:
            return rnode.create_subscription(_rosidl_class(typename), sub.topic_name, sub.deliver,
                                             _rqos(sub.qos_profile), raw=True)
        return rnode.create_subscription(_rosidl_class(typename), sub.topic_name,
                                         lambda m: sub.deliver(from_rosidl(m, typename)), _rqos(sub.qos_profile))

    def create_service(self, srv: Any) -> _RclpyService:
        return _RclpyService(self.rnodes[id(srv.node)], srv)

    def create_client(self, cli: Any) -> _RclpyClient:
        return _RclpyClient(self.rnodes[id(cli.node)], cli)

    def destroy_endpoint(self, endpoint: Any) -> None:
        pass  # destroyed with the rclpy node

    def wake(self) -> None:
        pass

    def shutdown(self) -> None:
        for rnode in self.rnodes.values():
            rnode.destroy_node()
        self.rnodes.clear()
        try:
            self.rclpy.shutdown(context=self.rcontext)
        except Exception:  # noqa: BLE001 - already shut down
            pass


class RclpyExecutor:
    """Spins the hidden rclpy nodes and fires our timers."""

    def __init__(self, context: Context) -> None:
        self.context = context
        self.backend: RclpyBackend = context.backend
        from rclpy.executors import SingleThreadedExecutor
        self.rexec = SingleThreadedExecutor(context=self.backend.rcontext)
        self.nodes: list[Node] = []

    def add_node(self, node: Node) -> bool:
        self.nodes.append(node)
        self.rexec.add_node(self.backend.rnodes[id(node)])
        return True

    def spin_once(self, timeout_sec: float | None = None) -> None:
        self.rexec.spin_once(timeout_sec=0.005 if timeout_sec is None else min(timeout_sec, 0.005))
        for node in self.nodes:
            now = node.get_clock().now_ns()
            for t in list(node._timers):
                if not t.is_canceled() and t.next_due_ns <= now:
                    t.fire(now)

    def spin(self) -> None:
        while self.context.ok() and any(not n._destroyed for n in self.nodes):
            self.spin_once()
            time.sleep(0)
