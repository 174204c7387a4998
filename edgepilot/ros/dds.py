"""Multi-process backend over Cyclone DDS, wire-compatible with ROS 2 (rmw_cyclonedds conventions).

* ROS topic ``/a/b`` is DDS topic ``rt/a/b``; type ``pkg/msg/T`` is DDS type ``pkg::msg::dds_::T_``; keyless,
  ``final``, XCDR1 only (DataRepresentation QoS = XCDR1).
* Payload bytes come from our generated codec (msgs.py): the ``IdlStruct`` built per type carries the right
  type name and XTypes description, but its ``serialize``/``deserialize`` are routed to the fast codec.
* Participant USER_DATA ``enclave=/;``; node names are announced on ``ros_discovery_info``
  (``rmw_dds_common/msg/ParticipantEntitiesInfo``; 24-byte Gid as Humble, 16 when ``ROS_DISTRO`` is Iron or
  later) so ``ros2 node list`` sees them; ``graph.py`` reads the graph back.
* ``ROS_DOMAIN_ID`` selects the domain (default 0). ``ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST`` (or Humble's
  ``ROS_LOCALHOST_ONLY=1``) restricts discovery to 127.0.0.1 with unicast peers (works where ``lo`` has no
  multicast). An explicit ``CYCLONEDDS_URI`` is respected otherwise.
* Executor: single thread; a WaitSet wakes on data, a guard condition (wake/shutdown) or the next timer. Waits are
  capped at 100 ms so SIGINT/SIGTERM handlers run promptly.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any, Callable

from cyclonedds.core import DDSException, GuardCondition, InstanceState, ReadCondition, SampleState, ViewState, WaitSet
from cyclonedds.domain import Domain, DomainParticipant
from cyclonedds.idl import make_idl_struct
from cyclonedds.idl import types as T
from cyclonedds.pub import DataWriter
from cyclonedds.qos import Policy, Qos
from cyclonedds.sub import DataReader
from cyclonedds.topic import Topic
from cyclonedds.util import duration
from rosbags.typesys.base import Nodetype

from . import msgs as _msgs
from .node import Context, Node, Publisher, Subscription, Timer
from .qos import DurabilityPolicy, QoSProfile

__all__ = ['DdsBackend', 'SingleThreadedExecutor', 'ros_topic_to_dds', 'idl_type_for', 'dds_qos', 'endpoint_qos',
           'type_hash',
           'cyclone_config', 'domain_id_from_env']

_MAX_WAIT_NS = 100_000_000


def ros_topic_to_dds(fq_topic: str) -> str:
    """'/chatter' -> 'rt/chatter'."""
    return 'rt/' + fq_topic.lstrip('/')


def domain_id_from_env() -> int:
    raw = os.environ.get('ROS_DOMAIN_ID', '').strip()
    if not raw:
        return 0
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f'ROS_DOMAIN_ID must be an integer, got {raw!r}') from None
    if not 0 <= value <= 232:
        raise ValueError(f'ROS_DOMAIN_ID must be in 0..232, got {value}')
    return value


def _localhost_only() -> bool:
    rng = os.environ.get('ROS_AUTOMATIC_DISCOVERY_RANGE', '').strip().upper()
    if rng:
        return rng == 'LOCALHOST'
    return os.environ.get('ROS_LOCALHOST_ONLY', '').strip() == '1'


def cyclone_config() -> str | None:
    """Cyclone XML for localhost-only discovery (None: Cyclone defaults / CYCLONEDDS_URI)."""
    if not _localhost_only():
        return None
    return ('<CycloneDDS><Domain id="any"><General><Interfaces><NetworkInterface address="127.0.0.1"/></Interfaces>'
            '<AllowMulticast>false</AllowMulticast></General><Discovery><ParticipantIndex>auto</ParticipantIndex>'
            '<MaxAutoParticipantIndex>64</MaxAutoParticipantIndex><Peers><Peer address="127.0.0.1"/></Peers>'
            '</Discovery></Domain></CycloneDDS>')


_domains: dict[int, Domain] = {}
_domains_lock = threading.Lock()


def configured_domain(domain_id: int) -> Domain | None:
    """The process's Domain for `domain_id` with the localhost-only config (None: Cyclone defaults apply).

    Cyclone allows one explicit Domain per id and process, so every participant here (nodes, graph tools, the bag
    recorder) shares this one. A domain that already exists in the process with Cyclone's defaults (a participant
    made before the environment asked for localhost-only) keeps them: the first participant fixes a domain's
    configuration, as in Cyclone itself."""
    config = cyclone_config()
    if not config:
        return None
    with _domains_lock:
        if domain_id not in _domains:
            try:
                _domains[domain_id] = Domain(domain_id, config)
            except DDSException:    # PRECONDITION_NOT_MET: the domain exists already, implicitly configured
                return None
        return _domains[domain_id]


# ----------------------------------------------------------------------------------------------------------------
# IDL types
# ----------------------------------------------------------------------------------------------------------------

_IDL_PRIM = {
    'bool': bool, 'byte': T.byte, 'char': T.uint8, 'int8': T.int8, 'uint8': T.uint8, 'int16': T.int16,
    'uint16': T.uint16, 'int32': T.int32, 'uint32': T.uint32, 'int64': T.int64, 'uint64': T.uint64,
    'float32': T.float32, 'float64': T.float64,
}
_idl_nested: dict[str, type] = {}
_idl_wire: dict[str, type] = {}
_idl_lock = threading.RLock()


def _idl_field(desc) -> Any:
    kind, rest = desc
    if kind == Nodetype.BASE:
        base, bound = rest
        if base == 'string':
            return T.bounded_str[bound] if bound else str
        try:
            return _IDL_PRIM[base]
        except KeyError:
            raise _msgs.MessageError(f'unsupported primitive {base!r} for DDS') from None
    if kind == Nodetype.NAME:
        return _nested_idl(rest)
    sub, n = rest
    inner = _idl_field(sub)
    if kind == Nodetype.ARRAY:
        return T.array[inner, n]
    return T.sequence[inner, n] if n else T.sequence[inner]


def _fields(typename: str) -> dict[str, Any]:
    _consts, fields = _msgs.field_definitions(typename)
    return {name: _idl_field(desc) for name, desc in fields}


def _nested_idl(typename: str) -> type:
    with _idl_lock:
        cls = _idl_nested.get(typename)
        if cls is None:
            cls = make_idl_struct(typename.split('/')[-1] + '_', _msgs.dds_type_name(typename), _fields(typename))
            _idl_nested[typename] = cls
        return cls


class _Received:
    """What a DataReader hands back: raw CDR bytes (decoded later by the subscription) plus sample info."""

    __slots__ = ('data', 'sample_info')

    def __init__(self, data: bytes | None) -> None:
        self.data = data


class _WireMixin:
    """Routes cyclonedds' (de)serialization through our codec; instances just carry finished CDR bytes."""

    payload: bytes

    def serialize(self, buffer: Any = None, endianness: Any = None, use_version_2: bool | None = None) -> bytes:
        return self.payload

    @classmethod
    def deserialize(cls, data: bytes, has_header: bool = True, use_version_2: bool | None = None) -> _Received:
        return _Received(data)

    @classmethod
    def deserialize_key(cls, data: bytes, has_header: bool = True, use_version_2: bool | None = None) -> _Received:
        return _Received(None)

    @classmethod
    def wrap(cls, payload: bytes) -> Any:
        obj = cls.__new__(cls)
        obj.payload = payload
        return obj


def idl_type_for(typename: str | type) -> type:
    """IdlStruct for a ROS type: DDS name ``pkg::msg::dds_::T_``, accurate fields, codec-backed payload."""
    typename = _msgs.normalize_type_name(typename)
    with _idl_lock:
        cls = _idl_wire.get(typename)
        if cls is None:
            cls = make_idl_struct(typename.split('/')[-1] + '_', _msgs.dds_type_name(typename), _fields(typename))
            # patched in (not a base class: cyclonedds' XTypes builder treats every base as an IDL parent struct)
            for attr in ('serialize', 'deserialize', 'deserialize_key', 'wrap'):
                setattr(cls, attr, _WireMixin.__dict__[attr])
            _idl_wire[typename] = cls
        return cls


def dds_qos(profile: QoSProfile) -> Qos:
    """ROS QoS profile -> Cyclone QoS (always XCDR1 data representation, as rmw_cyclonedds).

    Transient local also sets the durability service history to the profile's history, as rmw_cyclonedds does:
    Cyclone keeps that many samples for late joiners, and its default is one (a latched topic of depth 10 would
    hand a new subscriber only its last sample)."""
    history = Policy.History.KeepAll if profile.keep_all else Policy.History.KeepLast(profile.depth)
    policies = [
        Policy.Reliability.Reliable(max_blocking_time=duration(milliseconds=100)) if profile.is_reliable
        else Policy.Reliability.BestEffort,
        Policy.Durability.TransientLocal if profile.is_transient_local else Policy.Durability.Volatile,
        history,
        Policy.DataRepresentation(use_cdrv0_representation=True),
    ]
    if profile.is_transient_local:
        policies.append(Policy.DurabilityService(cleanup_delay=0, history=history, max_samples=-1, max_instances=-1,
                                                 max_samples_per_instance=-1))
    return Qos(*policies)


def type_hash(typename: str) -> str:
    """RIHS01 hash of a message type (REP 2011), as Iron and later put in endpoint USER_DATA."""
    return _msgs.get_typestore_with_ours().hash_rihs01(_msgs.normalize_type_name(typename))


def endpoint_qos(profile: QoSProfile, typename: str) -> Qos:
    """dds_qos plus, when ROS_DISTRO is Iron or later, USER_DATA ``typehash=RIHS01_<hex>;`` as rmw_cyclonedds
    writes it there (Humble sends none)."""
    from .graph import gid_size_for_distro
    qos = dds_qos(profile)
    if gid_size_for_distro() == 16:
        qos = Qos(*qos, Policy.Userdata(data=f'typehash={type_hash(typename)};'.encode()))
    return qos


# ----------------------------------------------------------------------------------------------------------------
# Endpoints
# ----------------------------------------------------------------------------------------------------------------


class _DdsPub:
    def __init__(self, backend: 'DdsBackend', pub: Publisher) -> None:
        self.pub = pub
        self.wire = idl_type_for(pub.typename)
        self.topic = backend._topic(pub.topic_name, pub.typename)
        self.writer = DataWriter(backend.participant, self.topic, qos=endpoint_qos(pub.qos_profile, pub.typename))

    def publish(self, msg: Any) -> None:
        self.writer.write(self.wire.wrap(_msgs.serialize(msg)))

    def publish_raw(self, data: bytes) -> None:
        self.writer.write(self.wire.wrap(data))

    def subscription_count(self) -> int:
        return self.writer.get_publication_matched_status().current_count


class _DdsSub:
    def __init__(self, backend: 'DdsBackend', sub: Subscription) -> None:
        self.sub = sub
        self.topic = backend._topic(sub.topic_name, sub.typename)
        self.reader = DataReader(backend.participant, self.topic, qos=endpoint_qos(sub.qos_profile, sub.typename))
        self.condition = ReadCondition(self.reader, SampleState.NotRead | ViewState.Any | InstanceState.Any)
        qos = sub.qos_profile
        self.batch = 256 if qos.keep_all else max(1, min(qos.depth, 256))

    def take(self) -> list[bytes]:
        return [s.data for s in self.reader.take(N=self.batch) if getattr(s, 'data', None) is not None]


class _DdsRpc:
    """One side of a service: a reader of the other side's topic and a writer of its own (rq/rr wire types)."""

    def __init__(self, backend: 'DdsBackend', owner: Any, serving: bool) -> None:
        from .services import reply_topic, request_topic, service_wire_types
        self.owner = owner
        self.node = owner.node
        req_t, rep_t = service_wire_types(owner.typename)
        rq = backend._named_topic(request_topic(owner.srv_name), req_t)
        rr = backend._named_topic(reply_topic(owner.srv_name), rep_t)
        qos = dds_qos(owner.qos_profile)
        self.reader = DataReader(backend.participant, rq if serving else rr, qos=qos)
        self.writer = DataWriter(backend.participant, rr if serving else rq, qos=qos)
        self.out_wire = rep_t if serving else req_t
        self.condition = ReadCondition(self.reader, SampleState.NotRead | ViewState.Any | InstanceState.Any)

    def take(self) -> list[bytes]:
        return [s.data for s in self.reader.take(N=64) if getattr(s, 'data', None) is not None]


class _DdsService(_DdsRpc):
    """Server side: requests on rq/<name>Request, replies (same guid and seq) on rr/<name>Reply."""

    def __init__(self, backend: 'DdsBackend', srv: Any) -> None:
        super().__init__(backend, srv, serving=True)
        self.srv = srv

    def deliver(self, data: bytes) -> None:
        from .services import unwrap, wrap
        try:
            guid, seq, body = unwrap(data)
            reply = self.srv.handle(body)
        except _msgs.MessageError as exc:   # a malformed request is dropped with a log line, never crashes the node
            self.srv.node.get_logger().error(f'service {self.srv.srv_name}: bad request: {exc}')
            return
        self.writer.write(self.out_wire.wrap(wrap(guid, seq, reply)))


class _DdsClient(_DdsRpc):
    """Client side: requests carry this client's guid (its request writer's GUID, last 8 bytes); replies for
    other clients of the same service are ignored."""

    def __init__(self, backend: 'DdsBackend', cli: Any) -> None:
        super().__init__(backend, cli, serving=False)
        self.cli = cli
        self.guid = int.from_bytes(self.writer.guid.bytes[8:16], 'little')

    def service_is_ready(self) -> bool:
        return (self.writer.get_publication_matched_status().current_count > 0
                and self.reader.get_subscription_matched_status().current_count > 0)

    def send(self, seq: int, request_cdr: bytes) -> None:
        from .services import wrap
        self.writer.write(self.out_wire.wrap(wrap(self.guid, seq, request_cdr)))

    def deliver(self, data: bytes) -> None:
        from .services import unwrap
        try:
            guid, seq, body = unwrap(data)
        except _msgs.MessageError:
            return
        if guid == self.guid:
            self.cli.deliver_reply(seq, body)


# ----------------------------------------------------------------------------------------------------------------
# Backend
# ----------------------------------------------------------------------------------------------------------------


class DdsBackend:
    """One DDS participant per context (as rmw_cyclonedds); nodes share it."""

    name = 'dds'
    supports_services = True

    def __init__(self, domain_id: int | None = None) -> None:
        self.domain_id = domain_id_from_env() if domain_id is None else int(domain_id)
        self._domain = configured_domain(self.domain_id)
        self.participant = DomainParticipant(self.domain_id, qos=Qos(Policy.Userdata(data=b'enclave=/;')))
        self.waitset = WaitSet(self.participant)
        self.guard = GuardCondition(self.participant)
        self.waitset.attach(self.guard)
        self._topics: dict[str, Topic] = {}
        self._subs: dict[int, _DdsSub] = {}
        self._pubs: dict[int, _DdsPub] = {}
        self._rpc: dict[int, _DdsService | _DdsClient] = {}     # services and clients by id of the Service/Client
        self._lock = threading.RLock()
        self.nodes: list[Node] = []
        self._closed = False
        self._graph = _GraphAnnouncer(self)

    def _named_topic(self, dds_name: str, wire_type: type) -> Topic:
        """A DDS topic by its wire name (services: rq/...Request, rr/...Reply)."""
        with self._lock:
            topic = self._topics.get(dds_name)
            if topic is None:
                topic = Topic(self.participant, dds_name, wire_type)
                self._topics[dds_name] = topic
            elif topic.data_type is not wire_type:
                raise TypeError(f'{dds_name} already used with {topic.typename}')
            return topic

    def create_service(self, srv: Any) -> _DdsService:
        return self._add_rpc(srv, _DdsService(self, srv))

    def create_client(self, cli: Any) -> _DdsClient:
        return self._add_rpc(cli, _DdsClient(self, cli))

    def _add_rpc(self, owner: Any, impl: Any) -> Any:
        with self._lock:
            self.waitset.attach(impl.condition)
            self._rpc[id(owner)] = impl
        self._graph.changed()
        self.wake()
        return impl

    def _topic(self, fq_topic: str, typename: str) -> Topic:
        name = ros_topic_to_dds(fq_topic)
        with self._lock:
            topic = self._topics.get(name)
            if topic is None:
                topic = Topic(self.participant, name, idl_type_for(typename))
                self._topics[name] = topic
            elif topic.data_type is not idl_type_for(typename):
                raise TypeError(f'topic {fq_topic} already used with {topic.typename}; cannot use it with '
                                f'{_msgs.dds_type_name(typename)}')
            return topic

    # Backend protocol --------------------------------------------------------------------------------------
    def attach_node(self, node: Node) -> None:
        self.nodes.append(node)
        self._graph.changed()

    def detach_node(self, node: Node) -> None:
        if node in self.nodes:
            self.nodes.remove(node)
        self._graph.changed()

    def time_source(self, node: Node) -> None:
        return None  # wall clock, or /clock when use_sim_time is set (handled by Node)

    def create_publisher(self, pub: Publisher) -> _DdsPub:
        impl = _DdsPub(self, pub)
        with self._lock:
            self._pubs[id(pub)] = impl
        self._graph.changed()
        return impl

    def create_subscription(self, sub: Subscription) -> _DdsSub:
        impl = _DdsSub(self, sub)
        with self._lock:
            self.waitset.attach(impl.condition)
            self._subs[id(sub)] = impl
        self._graph.changed()
        return impl

    def destroy_endpoint(self, endpoint: Any) -> None:
        with self._lock:
            if isinstance(endpoint, (_DdsService, _DdsClient)):
                self._rpc.pop(id(endpoint.owner), None)
                try:
                    self.waitset.detach(endpoint.condition)
                except Exception:  # noqa: BLE001 - already gone during shutdown
                    pass
            if isinstance(endpoint, _DdsPub):
                self._pubs.pop(id(endpoint.pub), None)
            if isinstance(endpoint, _DdsSub):
                self._subs.pop(id(endpoint.sub), None)
                try:
                    self.waitset.detach(endpoint.condition)
                except Exception:  # noqa: BLE001 - already gone during shutdown
                    pass
        self._graph.changed()

    def wake(self) -> None:
        if not self._closed:
            self.guard.set(True)

    def shutdown(self) -> None:
        self._closed = True
        self._subs.clear()
        self._pubs.clear()
        self._rpc.clear()

    # Executor support --------------------------------------------------------------------------------------
    def wait(self, timeout_ns: int) -> None:
        self.waitset.wait(max(0, min(timeout_ns, _MAX_WAIT_NS)))
        self.guard.take()

    def take_ready(self, nodes: list[Node]) -> list[tuple[Subscription, bytes]]:
        """All received samples of the given nodes' subscriptions, per subscription in arrival order."""
        out: list[tuple[Subscription, bytes]] = []
        for node in nodes:
            for sub in node._subscriptions:
                impl = self._subs.get(id(sub))
                if impl is None:
                    continue
                for data in impl.take():
                    out.append((sub, data))
            for owner in node._services + node._clients:
                rpc = self._rpc.get(id(owner))
                if rpc is not None:
                    out += [(rpc, data) for data in rpc.take()]
        return out


class _GraphAnnouncer:
    """Publishes this participant's nodes on ``ros_discovery_info`` (ParticipantEntitiesInfo).

    The Gid is 24 bytes (Humble) or 16 (Iron and later), chosen by ``ROS_DISTRO`` (graph.gid_size_for_distro)."""

    def __init__(self, backend: DdsBackend) -> None:
        from .graph import DISCOVERY_TOPIC, discovery_wire_type, gid_size_for_distro
        self.backend = backend
        self.writer = None
        self.gid_size = gid_size_for_distro()
        try:
            self.wire = discovery_wire_type(self.gid_size)
            topic = Topic(backend.participant, DISCOVERY_TOPIC, self.wire)
            qos = QoSProfile(depth=1, durability=DurabilityPolicy.TRANSIENT_LOCAL)
            self.writer = DataWriter(backend.participant, topic, qos=dds_qos(qos))
        except Exception:  # noqa: BLE001 - graph info is best effort; never block the data path
            self.writer = None

    def changed(self) -> None:
        if self.writer is None or self.backend._closed:
            return
        from .graph import NodeInfo, encode_entities_info
        try:
            nodes = []
            for node in self.backend.nodes:
                # from the backend's records: the endpoint being created is not in the node's lists yet
                rpc = [r for r in list(self.backend._rpc.values()) if r.node is node]
                readers = [s.reader.guid.bytes for s in list(self.backend._subs.values()) if s.sub.node is node]
                readers += [r.reader.guid.bytes for r in rpc]
                writers = [p.writer.guid.bytes for p in list(self.backend._pubs.values()) if p.pub.node is node]
                writers += [r.writer.guid.bytes for r in rpc]
                nodes.append(NodeInfo(node.get_namespace(), node.get_name(), readers, writers))
            payload = encode_entities_info(self.backend.participant.guid.bytes, nodes, self.gid_size)
            self.writer.write(self.wire.wrap(payload))
        except Exception:  # noqa: BLE001
            pass


# ----------------------------------------------------------------------------------------------------------------
# Executor
# ----------------------------------------------------------------------------------------------------------------


class SingleThreadedExecutor:
    """rclpy-like executor for the DDS backend: callbacks run in the spinning thread, one at a time."""

    def __init__(self, *, context: Context | None = None) -> None:
        from .node import get_default_context
        self.context = context or get_default_context()
        if not isinstance(self.context.backend, DdsBackend):
            raise TypeError(f'SingleThreadedExecutor needs a dds context, got {self.context.backend.name!r}')
        self.backend: DdsBackend = self.context.backend
        self._nodes: list[Node] = []

    def add_node(self, node: Node) -> bool:
        if node.context is not self.context:
            raise ValueError(f'{node!r} belongs to another context')
        if node not in self._nodes:
            self._nodes.append(node)
        self.backend.wake()
        return True

    def remove_node(self, node: Node) -> None:
        if node in self._nodes:
            self._nodes.remove(node)

    def get_nodes(self) -> list[Node]:
        return list(self._nodes)

    def _live_nodes(self) -> list[Node]:
        self._nodes = [n for n in self._nodes if not n._destroyed]
        return self._nodes

    def _due_timers(self, nodes: list[Node]) -> list[tuple[int, int, int, Timer]]:
        due = []
        for n_idx, node in enumerate(nodes):
            now = node.get_clock().now_ns()
            for t in node._timers:
                if not t.is_canceled() and t.next_due_ns <= now:
                    due.append((t.next_due_ns, n_idx, t.index, t))
        due.sort(key=lambda x: x[:3])
        return due

    def _timeout_ns(self, nodes: list[Node]) -> int:
        timeout = _MAX_WAIT_NS
        for node in nodes:
            if node.get_clock().ros_time_is_active:
                continue  # sim-time timers are re-checked whenever /clock arrives
            now = node.get_clock().now_ns()
            for t in node._timers:
                if not t.is_canceled():
                    timeout = min(timeout, t.next_due_ns - now)
        return max(0, timeout)

    def spin_once(self, timeout_sec: float | None = None) -> None:
        """Wait for work (at most ``timeout_sec``), then run every ready callback once."""
        nodes = self._live_nodes()
        if not self.context.ok():
            return
        timeout = self._timeout_ns(nodes)
        if timeout_sec is not None:
            timeout = min(timeout, int(timeout_sec * 1e9))
        if timeout > 0 and not self._due_timers(nodes):
            self.backend.wait(timeout)
        for sub, data in self.backend.take_ready(nodes):
            if not self.context.ok():
                return
            sub.deliver(data)
        for _due, _n, _i, timer in self._due_timers(nodes):
            if not self.context.ok():
                return
            if not timer.is_canceled():
                timer.fire(timer.node.get_clock().now_ns())

    def spin(self) -> None:
        while self.context.ok() and self._live_nodes():
            self.spin_once()

    def spin_until(self, predicate: Callable[[], bool], timeout_sec: float) -> bool:
        """Spin until ``predicate()`` is true or the timeout passes; returns the predicate's last value."""
        deadline = time.monotonic() + timeout_sec
        while self.context.ok() and not predicate():
            left = deadline - time.monotonic()
            if left <= 0:
                return predicate()
            self.spin_once(min(left, 0.05))
        return predicate()

    def shutdown(self, timeout_sec: float | None = None) -> bool:
        self._nodes = []
        return True


MultiThreadedExecutor = SingleThreadedExecutor  # same API; callbacks are serialized for determinism
