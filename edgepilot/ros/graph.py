"""The ROS 2 graph as seen on DDS: topics, their types and QoS, and node names, without a ROS 2 install.

What `ros2 topic list` and `ros2 node list` show comes from two places, and this module reads both:

* DDS discovery (the built-in publication/subscription/participant topics): every endpoint's topic name
  (`rt/` prefix = a ROS topic), type name (`pkg::msg::dds_::T_`) and QoS.
* `ros_discovery_info` (`rmw_dds_common/msg/ParticipantEntitiesInfo`): which node of a participant owns which
  endpoint. Its `Gid` is 24 bytes on Humble and 16 from Iron on, and the two layouts do not match on the wire
  (Cyclone checks payloads against the type), so the layout follows `ROS_DISTRO` (24 when unset) as a ROS 2
  install's would; the codec itself reads both.

So it works against EdgePilot's own nodes and against any ROS 2 system (rmw_cyclonedds, rmw_fastrtps) on the same
domain. `ROS_DOMAIN_ID` and `ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST` apply as for the nodes.
"""

from __future__ import annotations

import os
import re
import struct
import threading
import time
import uuid
from dataclasses import dataclass, field

from cyclonedds.builtin import (BuiltinDataReader, BuiltinTopicDcpsParticipant, BuiltinTopicDcpsPublication,
                                BuiltinTopicDcpsSubscription)
from cyclonedds.core import InstanceState, ReadCondition, SampleState, ViewState
from cyclonedds.domain import DomainParticipant
from cyclonedds.idl import make_idl_struct
from cyclonedds.idl import types as T
from cyclonedds.qos import Policy, Qos
from cyclonedds.sub import DataReader
from cyclonedds.topic import Topic

from . import msgs as _msgs
from .dds import _WireMixin, configured_domain, dds_qos, domain_id_from_env, idl_type_for
from .qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

__all__ = ['GraphError', 'NodeInfo', 'Endpoint', 'RosGraph', 'TopicTap', 'topic_filter', 'gid_size_for_distro',
           'encode_entities_info',
           'decode_entities_info', 'discovery_wire_type', 'ros_name_from_dds', 'ros_type_from_dds']

DISCOVERY_TOPIC = 'ros_discovery_info'
DISCOVERY_TYPE = 'rmw_dds_common/msg/ParticipantEntitiesInfo'
_CDR_LE = b'\x00\x01\x00\x00'
_OLD_DISTROS = ('ardent', 'bouncy', 'crystal', 'dashing', 'eloquent', 'foxy', 'galactic', 'humble')


class GraphError(ValueError):
    """A graph query that cannot be answered (unknown topic, no publisher, undecodable sample); says which."""


def gid_size_for_distro(distro: str | None = None) -> int:
    """Bytes of an rmw `Gid`: 24 up to Humble, 16 from Iron on. `distro` defaults to $ROS_DISTRO (unset: humble)."""
    name = (distro if distro is not None else os.environ.get('ROS_DISTRO', '')).strip().lower() or 'humble'
    return 24 if name in _OLD_DISTROS else 16


# ----------------------------------------------------------------------------------------------------------------
# ParticipantEntitiesInfo codec (both Gid sizes)
# ----------------------------------------------------------------------------------------------------------------


@dataclass
class NodeInfo:
    """One node of a participant: its namespace, name and the GUIDs (16 bytes) of its readers and writers."""

    namespace: str
    name: str
    readers: list[bytes] = field(default_factory=list)
    writers: list[bytes] = field(default_factory=list)

    @property
    def fqn(self) -> str:
        """Fully qualified name, as `ros2 node list` prints it."""
        return self.namespace.rstrip('/') + '/' + self.name


def _align(buf: bytearray, n: int) -> None:
    buf.extend(b'\x00' * (-(len(buf) - 4) % n))


def _put_string(buf: bytearray, s: str) -> None:
    raw = s.encode('utf-8') + b'\x00'
    _align(buf, 4)
    buf.extend(struct.pack('<I', len(raw)))
    buf.extend(raw)


def _gid_bytes(guid: bytes, size: int) -> bytes:
    return bytes(guid[:size]).ljust(size, b'\x00')


def encode_entities_info(participant_guid: bytes, nodes: list[NodeInfo], gid_size: int | None = None) -> bytes:
    """CDR bytes (with encapsulation header) of a ParticipantEntitiesInfo with `gid_size`-byte Gids."""
    size = gid_size_for_distro() if gid_size is None else int(gid_size)
    if size not in (16, 24):
        raise ValueError(f'gid_size must be 16 (Iron and later) or 24 (Humble), got {gid_size!r}')
    buf = bytearray(_CDR_LE)
    buf.extend(_gid_bytes(participant_guid, size))
    _align(buf, 4)
    buf.extend(struct.pack('<I', len(nodes)))
    for node in nodes:
        _put_string(buf, node.namespace)
        _put_string(buf, node.name)
        for gids in (node.readers, node.writers):
            _align(buf, 4)
            buf.extend(struct.pack('<I', len(gids)))
            for g in gids:
                buf.extend(_gid_bytes(g, size))
    return bytes(buf)


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 4

    def align(self, n: int) -> None:
        self.pos += -(self.pos - 4) % n

    def u32(self) -> int:
        self.align(4)
        if self.pos + 4 > len(self.data):
            raise ValueError('truncated')
        (v,) = struct.unpack_from('<I', self.data, self.pos)
        self.pos += 4
        return v

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise ValueError('truncated')
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def string(self) -> str:
        n = self.u32()
        raw = self.take(n)
        if n == 0 or raw[-1] != 0 or 0 in raw[:-1]:
            raise ValueError('bad string')
        return raw[:-1].decode('utf-8')


def _decode_with(data: bytes, size: int) -> tuple[bytes, list[NodeInfo]]:
    r = _Reader(data)
    gid = r.take(size)
    nodes = []
    for _ in range(r.u32()):
        ns, name = r.string(), r.string()
        lists = []
        for _k in range(2):
            count = r.u32()
            if count > 100_000:
                raise ValueError('implausible count')
            lists.append([bytes(r.take(size))[:16] for _ in range(count)])
        nodes.append(NodeInfo(ns, name, lists[0], lists[1]))
    rest = data[r.pos:]
    if len(rest) > 3 or any(rest):
        raise ValueError('trailing bytes')
    return bytes(gid)[:16], nodes


def decode_entities_info(data: bytes, gid_size: int | None = None) -> tuple[bytes, list[NodeInfo]]:
    """(participant GUID (16 bytes), nodes) from a ParticipantEntitiesInfo sample of either Gid size.

    The preferred size (`gid_size`, else $ROS_DISTRO's) is tried first; the other only if that does not account
    for the bytes exactly. Raises GraphError when neither does."""
    data = bytes(data)
    if len(data) < 4 or data[:2] != b'\x00\x01':
        raise GraphError(f'{DISCOVERY_TOPIC}: not an XCDR1 little-endian sample ({data[:4].hex()})')
    first = gid_size_for_distro() if gid_size is None else int(gid_size)
    errors = []
    for size in (first, 40 - first):
        try:
            return _decode_with(data, size)
        except (ValueError, UnicodeDecodeError) as exc:
            errors.append(f'{size}-byte Gid: {exc}')
    raise GraphError(f'{DISCOVERY_TOPIC}: undecodable ParticipantEntitiesInfo ({"; ".join(errors)})')


_discovery_types: dict[int, type] = {}


def discovery_wire_type(gid_size: int) -> type:
    """The IdlStruct of `ros_discovery_info` for a Gid size: same DDS type name, Gid `char[gid_size]`.

    Cyclone checks every written and received payload against the type's layout, so a participant can only
    speak one of the two layouts (as each ROS 2 distribution does); payload bytes come from encode_entities_info."""
    if gid_size == 24:
        return idl_type_for(DISCOVERY_TYPE)     # the Humble definition in the typestore
    if gid_size != 16:
        raise ValueError(f'gid_size must be 16 (Iron and later) or 24 (Humble), got {gid_size!r}')
    cls = _discovery_types.get(gid_size)
    if cls is None:
        ns = 'rmw_dds_common::msg::dds_::'
        gid = make_idl_struct('Gid_', ns + 'Gid_', {'data': T.array[T.uint8, gid_size]})
        node = make_idl_struct('NodeEntitiesInfo_', ns + 'NodeEntitiesInfo_', {
            'node_namespace': T.bounded_str[256], 'node_name': T.bounded_str[256],
            'reader_gid_seq': T.sequence[gid], 'writer_gid_seq': T.sequence[gid]})
        cls = make_idl_struct('ParticipantEntitiesInfo_', ns + 'ParticipantEntitiesInfo_', {
            'gid': gid, 'node_entities_info_seq': T.sequence[node]})
        for attr in ('serialize', 'deserialize', 'deserialize_key', 'wrap'):
            setattr(cls, attr, _WireMixin.__dict__[attr])
        _discovery_types[gid_size] = cls
    return cls


# ----------------------------------------------------------------------------------------------------------------
# Names
# ----------------------------------------------------------------------------------------------------------------


def ros_name_from_dds(topic: str) -> tuple[str, str] | None:
    """('topic' | 'service request' | 'service reply', ROS name) for a DDS topic name; None if not a ROS one."""
    if topic.startswith('rt/'):
        return 'topic', '/' + topic[3:]
    if topic.startswith('rq/') and topic.endswith('Request'):
        return 'service request', '/' + topic[3:-len('Request')]
    if topic.startswith('rr/') and topic.endswith('Reply'):
        return 'service reply', '/' + topic[3:-len('Reply')]
    return None


def ros_type_from_dds(type_name: str) -> str:
    """'std_msgs::msg::dds_::String_' -> 'std_msgs/msg/String' (other names are returned unchanged)."""
    parts = type_name.split('::')
    if len(parts) == 4 and parts[2] == 'dds_' and parts[3].endswith('_'):
        return f'{parts[0]}/{parts[1]}/{parts[3][:-1]}'
    return type_name


@dataclass(frozen=True)
class Endpoint:
    """A publisher or subscription seen on the wire."""

    kind: str            # 'publisher' | 'subscription'
    topic: str           # ROS name, e.g. /vehicle/state
    type: str            # pkg/msg/Type
    guid: bytes          # endpoint GUID (16 bytes)
    participant: bytes   # its participant's GUID
    reliable: bool
    transient_local: bool
    depth: int           # KEEP_LAST depth (0: KEEP_ALL)
    node: str | None     # owning node's fully qualified name, when ros_discovery_info names it
    type_hash: str = ''  # RIHS01_<hex> from USER_DATA (Iron and later; empty from Humble)


def _user_type_hash(qos: Qos) -> str:
    """The typehash=...; entry of an endpoint's USER_DATA ('' when absent)."""
    try:
        data = bytes(qos[Policy.Userdata].data).decode('utf-8', 'replace')
    except (KeyError, AttributeError):
        return ''
    for item in data.split(';'):
        key, _, value = item.partition('=')
        if key.strip() == 'typehash':
            return value.strip()
    return ''


def _qos_fields(qos: Qos) -> tuple[bool, bool, int]:
    try:
        reliable = isinstance(qos[Policy.Reliability], Policy.Reliability.Reliable)
    except KeyError:
        reliable = True
    try:
        transient = qos[Policy.Durability] in (Policy.Durability.TransientLocal, Policy.Durability.Transient,
                                               Policy.Durability.Persistent)
    except KeyError:
        transient = False
    try:
        hist = qos[Policy.History]
        depth = int(getattr(hist, 'depth', 0)) if hist is not Policy.History.KeepAll else 0
    except KeyError:
        depth = 1
    return reliable, transient, depth


# ----------------------------------------------------------------------------------------------------------------
# Graph
# ----------------------------------------------------------------------------------------------------------------


class RosGraph:
    """A passive DDS participant that watches discovery; it announces no node of its own."""

    def __init__(self, domain_id: int | None = None, gid_size: int | None = None) -> None:
        self.domain_id = domain_id_from_env() if domain_id is None else int(domain_id)
        self.gid_size = gid_size_for_distro() if gid_size is None else int(gid_size)
        self._domain = configured_domain(self.domain_id)
        self.participant = DomainParticipant(self.domain_id, qos=Qos(Policy.Userdata(data=b'enclave=/;')))
        self.guid = self.participant.guid.bytes
        self._readers = {kind: BuiltinDataReader(self.participant, topic) for kind, topic in
                         (('publisher', BuiltinTopicDcpsPublication),
                          ('subscription', BuiltinTopicDcpsSubscription),
                          ('participant', BuiltinTopicDcpsParticipant))}
        self._alive = {kind: ReadCondition(r, SampleState.Any | ViewState.Any | InstanceState.Alive)
                       for kind, r in self._readers.items()}
        info_qos = QoSProfile(history=HistoryPolicy.KEEP_ALL, reliability=ReliabilityPolicy.RELIABLE,
                              durability=DurabilityPolicy.TRANSIENT_LOCAL)
        topic = Topic(self.participant, DISCOVERY_TOPIC, discovery_wire_type(self.gid_size))
        self._info_reader = DataReader(self.participant, topic, qos=dds_qos(info_qos))
        self._entities: dict[bytes, list[NodeInfo]] = {}   # participant GUID -> its nodes (latest sample)
        self.errors: list[str] = []                        # undecodable discovery samples, for diagnostics
        self._data_readers: list[DataReader] = []

    # discovery ---------------------------------------------------------------------------------------------
    def _poll_entities(self) -> None:
        for sample in self._info_reader.take(N=1000):
            data = getattr(sample, 'data', None)
            if data is None:
                continue
            try:
                guid, nodes = decode_entities_info(data, self.gid_size)
            except GraphError as exc:
                self.errors.append(str(exc))
                continue
            self._entities[guid] = nodes

    def participants(self) -> set[bytes]:
        """GUIDs of the live participants other than this one."""
        samples = self._readers['participant'].read(N=100_000, condition=self._alive['participant'])
        return {s.key.bytes for s in samples} - {self.guid}

    def endpoints(self) -> list[Endpoint]:
        """Every live ROS endpoint (topics and services) of the other participants."""
        self._poll_entities()
        owner: dict[bytes, str] = {}
        for nodes in self._entities.values():
            for node in nodes:
                for g in node.readers + node.writers:
                    owner[g] = node.fqn
        out = []
        for kind in ('publisher', 'subscription'):
            for s in self._readers[kind].read(N=100_000, condition=self._alive[kind]):
                if s.participant_key.bytes == self.guid:
                    continue
                named = ros_name_from_dds(s.topic_name)
                if named is None:
                    continue
                reliable, transient, depth = _qos_fields(s.qos)
                out.append(Endpoint(kind, named[1] if named[0] == 'topic' else f'{named[1]} ({named[0]})',
                                    ros_type_from_dds(s.type_name), s.key.bytes, s.participant_key.bytes,
                                    reliable, transient, depth, owner.get(s.key.bytes), _user_type_hash(s.qos)))
        return out

    def topics(self) -> dict[str, list[str]]:
        """ROS topic name -> sorted type names (more than one is a misconfiguration worth seeing)."""
        out: dict[str, set[str]] = {}
        for ep in self.endpoints():
            if ' (' not in ep.topic:
                out.setdefault(ep.topic, set()).add(ep.type)
        return {k: sorted(v) for k, v in sorted(out.items())}

    def services(self) -> dict[str, list[str]]:
        """Service name -> sorted types, from the servers' request readers (as `ros2 service list -t`)."""
        out: dict[str, set[str]] = {}
        for ep in self.endpoints():
            if ep.kind == 'subscription' and ep.topic.endswith(' (service request)'):
                name = ep.topic[:-len(' (service request)')]
                typ = ep.type[:-len('_Request')] if ep.type.endswith('_Request') else ep.type
                out.setdefault(name, set()).add(typ)
        return {k: sorted(v) for k, v in sorted(out.items())}

    def nodes(self) -> list[str]:
        """Fully qualified names of the nodes of live participants, sorted (duplicates kept, as ros2 does)."""
        self._poll_entities()
        live = self.participants()
        names = [n.fqn for guid, nodes in self._entities.items() if guid in live for n in nodes]
        return sorted(names)

    def wait(self, seconds: float, until=None, poll_s: float = 0.05) -> bool:
        """Let discovery run for up to `seconds` (stops early once `until()` is true); returns until()'s value."""
        deadline = time.monotonic() + max(0.0, seconds)
        while True:
            self._poll_entities()
            if until is not None and until():
                return True
            if time.monotonic() >= deadline:
                return bool(until()) if until is not None else True
            time.sleep(poll_s)

    # data --------------------------------------------------------------------------------------------------
    def topic_type(self, topic: str, timeout_s: float = 2.0) -> str:
        """The type of `topic` from its publishers (waiting up to `timeout_s` for one to be discovered)."""
        topic = '/' + topic.lstrip('/')
        found: list[str] = []

        def have() -> bool:
            found[:] = sorted({e.type for e in self.endpoints() if e.kind == 'publisher' and e.topic == topic})
            return bool(found)

        if not self.wait(timeout_s, have):
            others = sorted(self.topics())
            hint = f' (topics seen: {", ".join(others)})' if others else ' (no topics seen on this domain)'
            raise GraphError(f'no publisher of {topic} found on domain {self.domain_id} within {timeout_s:g} s'
                             + hint)
        if len(found) > 1:
            raise GraphError(f'{topic} is published with several types: {", ".join(found)}; name the type')
        return found[0]

    def reader_qos(self, topic: str) -> QoSProfile:
        """A QoS that matches every current publisher of `topic` (as `ros2 topic echo` adapts its QoS)."""
        pubs = [e for e in self.endpoints() if e.kind == 'publisher' and e.topic == '/' + topic.lstrip('/')]
        reliable = bool(pubs) and all(e.reliable for e in pubs)
        transient = bool(pubs) and all(e.transient_local for e in pubs)
        return QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE if reliable
                          else ReliabilityPolicy.BEST_EFFORT,
                          durability=DurabilityPolicy.TRANSIENT_LOCAL if transient else DurabilityPolicy.VOLATILE)

    def subscribe_raw(self, topic: str, typename: str, qos: QoSProfile | None = None) -> DataReader:
        """A DataReader on `topic` whose samples carry the raw CDR bytes in `.data` (decode with msgs)."""
        typename = _msgs.normalize_type_name(typename)
        try:
            _msgs.field_definitions(typename)
        except _msgs.MessageError:
            raise GraphError(f'{topic}: type {typename} has no .msg definition here; add its package source '
                             f'directory to EDGEPILOT_MSG_PATH') from None
        dds_topic = Topic(self.participant, 'rt/' + topic.lstrip('/'), idl_type_for(typename))
        reader = DataReader(self.participant, dds_topic, qos=dds_qos(qos or self.reader_qos(topic)))
        self._data_readers.append(reader)
        return reader

    def close(self) -> None:
        """Leave the domain (other participants see this one go at once)."""
        self._data_readers.clear()
        self._info_reader = None
        self._readers.clear()
        self.participant = None

    def __enter__(self) -> 'RosGraph':
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def topic_filter(patterns: list[str] | None = None, exclude: str | None = None):
    """A predicate on topic names: matches one of `patterns` (regular expressions; none: every topic) and not
    `exclude`. Bad expressions fail here, naming the expression."""
    def compile_(p: str):
        try:
            return re.compile(p)
        except re.error as exc:
            raise GraphError(f'bad topic pattern {p!r}: {exc}') from None

    want = [compile_(p) for p in (patterns or [])]
    excl = compile_(exclude) if exclude else None
    return lambda topic: not (excl and excl.search(topic)) and (not want or any(p.search(topic) for p in want))


class TopicTap:
    """Raw readers on every wanted topic of the graph, added as publishers appear: what the bag recorder and the
    Foxglove bridge both need.

    Readers are KEEP_ALL and take the publishers' reliability and durability (all reliable: reliable; all
    transient local: transient local, so latched state arrives too). `on_topic(topic, type, publishers)` is asked
    before a topic is tapped and may refuse it by returning a reason (a string); refusals are kept in `errors`."""

    def __init__(self, graph: RosGraph, wanted=None, on_topic=None, discovery_s: float = 0.1) -> None:
        from cyclonedds.core import WaitSet
        self.graph = graph
        self.wanted = wanted or (lambda topic: True)
        self.on_topic = on_topic
        self.discovery_s = discovery_s
        self.waitset = WaitSet(graph.participant)
        self.readers: dict[str, tuple[str, DataReader]] = {}   # topic -> (type, reader)
        self.errors: list[str] = []
        self._refused: set[str] = set()
        self._next_discovery = 0.0
        self.stopped = threading.Event()

    def discover(self) -> list[str]:
        """Tap the topics whose publishers appeared since the last call; returns the new topics."""
        from cyclonedds.core import InstanceState, ReadCondition, SampleState, ViewState
        pubs: dict[str, list[Endpoint]] = {}
        for ep in self.graph.endpoints():
            if ep.kind == 'publisher' and ' (' not in ep.topic:
                pubs.setdefault(ep.topic, []).append(ep)
        new = []
        for topic, eps in sorted(pubs.items()):
            if topic in self.readers or topic in self._refused or not self.wanted(topic):
                continue
            types = sorted({e.type for e in eps})
            why = f'published with several types ({", ".join(types)})' if len(types) > 1 else None
            if why is None and self.on_topic is not None:
                why = self.on_topic(topic, types[0], eps)
            qos = QoSProfile(history=HistoryPolicy.KEEP_ALL,
                             reliability=ReliabilityPolicy.RELIABLE if all(e.reliable for e in eps)
                             else ReliabilityPolicy.BEST_EFFORT,
                             durability=DurabilityPolicy.TRANSIENT_LOCAL if all(e.transient_local for e in eps)
                             else DurabilityPolicy.VOLATILE)
            if why is None:
                try:
                    reader = self.graph.subscribe_raw(topic, types[0], qos)
                except (GraphError, _msgs.MessageError) as exc:
                    why = str(exc)
            if why is not None:
                self._refused.add(topic)
                self.errors.append(f'{topic}: not tapped: {why}')
                continue
            self.waitset.attach(ReadCondition(reader, SampleState.NotRead | ViewState.Any | InstanceState.Any))
            self.readers[topic] = (types[0], reader)
            new.append(topic)
        return new

    def spin_once(self, sink, timeout_s: float = 0.05) -> int:
        """Wait for data (at most `timeout_s`) and hand every sample to `sink(topic, type, cdr_bytes, t_ns)`
        (receive time); discovery runs every `discovery_s`. Returns the samples handed on."""
        from cyclonedds.util import duration
        now = time.monotonic()
        if now >= self._next_discovery:
            self.discover()
            self._next_discovery = now + self.discovery_s
        wait = max(0.0, min(timeout_s, self._next_discovery - time.monotonic()))
        if wait > 0:
            self.waitset.wait(duration(seconds=wait))
        n = 0
        for topic, (typename, reader) in list(self.readers.items()):
            while True:
                samples = reader.take(N=256)
                if not samples:
                    break
                t_ns = time.time_ns()
                for s in samples:
                    data = getattr(s, 'data', None)
                    if data is not None:
                        sink(topic, typename, data, t_ns)
                        n += 1
        return n


    def run(self, sink, duration_s: float | None = None) -> None:
        """spin_once until `duration_s` passes or `stop()` is called (from another thread or a signal handler)."""
        end = None if duration_s is None else time.monotonic() + duration_s
        while not self.stopped.is_set() and (end is None or time.monotonic() < end):
            self.spin_once(sink, 0.05)

    def stop(self) -> None:
        self.stopped.set()


def guid_hex(guid: bytes) -> str:
    """A GUID as the dotted hex `ros2` and Cyclone print."""
    return str(uuid.UUID(bytes=bytes(guid[:16])))
