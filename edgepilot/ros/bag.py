"""rosbag2 bags in MCAP with zstd chunks: record a live graph (every topic, the CAN bus, the publishers' QoS) and
summarise a bag as `ros2 bag info` does.

Why rosbags: it writes the rosbag2 layout (metadata.yaml + one .mcap) that `ros2 bag` (Iron and later) and Foxglove
open, with no ROS 2 install. Payloads are recorded as they came off the wire (CDR bytes, never re-encoded), stamped
with the receive time. CAN frames become `can_msgs/msg/Frame` on `/from_can_bus`, as ros2_socketcan publishes them.
Object lists (edgepilot_interfaces/ObjectArray: ground truth, detections, tracks) are also written as
visualization_msgs/MarkerArray on `<topic>/markers`, so Foxglove's 3D panel draws them from the bag; images
(sensor_msgs/Image) and the plan (nav_msgs/Path) are standard already.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from . import msgs as _msgs
from .graph import Endpoint, RosGraph, TopicTap, topic_filter

__all__ = ['BagError', 'BagWriter', 'Recorder', 'bag_info', 'format_info', 'read_messages', 'CAN_TOPIC', 'CAN_TYPE']

CAN_TOPIC = '/from_can_bus'
CAN_TYPE = 'can_msgs/msg/Frame'
BAG_VERSION = 8   # rosbag2 metadata version (Iron's); rosbags writes 8 or 9


class BagError(ValueError):
    """A bag that cannot be written or read; the message names the path and what is wrong."""


def _rb_qos(reliable: bool, transient_local: bool, depth: int):
    from rosbags.interfaces import Qos, QosDurability, QosHistory, QosLiveliness, QosReliability, QosTime
    zero = QosTime(0, 0)
    return Qos(history=QosHistory.KEEP_ALL if depth == 0 else QosHistory.KEEP_LAST, depth=depth,
               reliability=QosReliability.RELIABLE if reliable else QosReliability.BEST_EFFORT,
               durability=QosDurability.TRANSIENT_LOCAL if transient_local else QosDurability.VOLATILE,
               deadline=zero, lifespan=zero, liveliness=QosLiveliness.AUTOMATIC, liveliness_lease_duration=zero,
               avoid_ros_namespace_conventions=False)


class BagWriter:
    """A rosbag2 bag (MCAP storage, zstd-compressed chunks) being written; `close()` writes metadata.yaml."""

    def __init__(self, path: str | Path, *, compress: bool = True) -> None:
        from rosbags.rosbag2 import CompressionFormat, CompressionMode, StoragePlugin, Writer
        self.path = Path(path)
        if self.path.exists():
            raise BagError(f'{self.path}: exists already; a bag is never overwritten (choose another -o)')
        self._w = Writer(self.path, version=BAG_VERSION, storage_plugin=StoragePlugin.MCAP)
        if compress:
            self._w.set_compression(CompressionMode.STORAGE, CompressionFormat.ZSTD)
        self._w.open()
        self._store = _msgs.get_typestore_with_ours()
        self._conns: dict[str, Any] = {}
        self.counts: dict[str, int] = {}
        self._lock = threading.Lock()
        self._closed = False

    def add_topic(self, topic: str, typename: str, qos: list[tuple[bool, bool, int]] = ()) -> None:
        """Declare a topic: its type (its full definition goes into the bag) and the offered QoS of each
        publisher as (reliable, transient_local, depth)."""
        typename = _msgs.normalize_type_name(typename)
        with self._lock:
            if topic in self._conns:
                return
            try:
                self._conns[topic] = self._w.add_connection(
                    topic, typename, typestore=self._store,
                    offered_qos_profiles=[_rb_qos(*q) for q in qos])
            except KeyError:
                raise BagError(f'{self.path}: topic {topic}: type {typename} has no .msg definition here') from None
            self.counts[topic] = 0

    def write(self, topic: str, data: bytes, t_ns: int) -> None:
        """One message: CDR bytes with encapsulation header, receive time in ns since the epoch."""
        with self._lock:
            if self._closed:
                return
            self._w.write(self._conns[topic], int(t_ns), bytes(data))
            self.counts[topic] += 1

    def write_can(self, frame: Any, t_ns: int | None = None) -> None:
        """A python-can Message as can_msgs/msg/Frame on /from_can_bus (classic CAN: at most 8 data bytes)."""
        if CAN_TOPIC not in self._conns:
            self.add_topic(CAN_TOPIC, CAN_TYPE, [(True, False, 0)])
        t_ns = int(frame.timestamp * 1e9) if t_ns is None and frame.timestamp else (t_ns or time.time_ns())
        data = bytes(frame.data)
        if len(data) > 8:
            raise BagError(f'{self.path}: CAN frame 0x{frame.arbitration_id:X} has {len(data)} data bytes; '
                           f'can_msgs/msg/Frame holds classic CAN frames (8 bytes at most)')
        Frame = _msgs.get_message(CAN_TYPE)
        msg = Frame(id=frame.arbitration_id, is_rtr=bool(frame.is_remote_frame),
                    is_extended=bool(frame.is_extended_id), is_error=bool(frame.is_error_frame), dlc=len(data),
                    data=list(data.ljust(8, b'\x00')))
        msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(t_ns, 1_000_000_000)
        msg.header.frame_id = str(frame.channel or 'can')
        self.write(CAN_TOPIC, _msgs.serialize(msg), t_ns)

    def close(self) -> dict[str, int]:
        """Finish the bag (last chunk, index, metadata.yaml); returns messages per topic."""
        with self._lock:
            if not self._closed:
                self._closed = True
                self._w.close()
        return dict(self.counts)


# ----------------------------------------------------------------------------------------------------------------
# Recording a live graph
# ----------------------------------------------------------------------------------------------------------------


@dataclass
class Recorder:
    """Records every topic of the graph (or those matching `topics`/`exclude`) and, with `can_bus`, the CAN bus.

    Topics are picked up as their publishers appear (graph.TopicTap: KEEP_ALL readers with the publishers'
    reliability and durability, so reliable publishers lose nothing and latched state is recorded too). Call
    `run()` (or `spin_once()` in your loop), then `close()`."""

    out: str | Path
    topics: list[str] | None = None          # regular expressions on the topic name (None: all)
    exclude: str | None = None
    can_bus: str | None = None
    domain_id: int | None = None
    discovery_s: float = 0.1
    compress: bool = True
    markers: bool = True                      # object lists also as MarkerArray on <topic>/markers (Foxglove's 3D)

    def __post_init__(self) -> None:
        from .viz import MARKER_ARRAY, MARKER_SUFFIX, OBJECT_ARRAY
        self.writer = BagWriter(self.out, compress=self.compress)
        self._marker_topics: dict[str, str] = {}
        wanted = topic_filter(self.topics, self.exclude)
        self.graph = RosGraph(self.domain_id)

        def declare(topic: str, typename: str, eps: list[Endpoint]) -> str | None:
            try:
                qos = [(e.reliable, e.transient_local, e.depth) for e in eps]
                self.writer.add_topic(topic, typename, qos)
                if self.markers and typename == OBJECT_ARRAY:
                    self.writer.add_topic(topic + MARKER_SUFFIX, MARKER_ARRAY, qos)
                    self._marker_topics[topic] = topic.strip('/').replace('/', '_')
            except BagError as exc:
                return str(exc)
            return None

        self.tap = TopicTap(self.graph, wanted, declare, self.discovery_s)
        self._can_errors: list[str] = []
        self._can_thread = None
        self._bus = None
        if self.can_bus:
            from canbus.bus import open_bus
            self._bus = open_bus(self.can_bus)
            self._can_thread = threading.Thread(target=self._can_loop, name='bag-can', daemon=True)
            self._can_thread.start()

    @property
    def errors(self) -> list[str]:
        """Topics not recorded and CAN problems, each naming the topic and why."""
        return self.tap.errors + self._can_errors

    def spin_once(self, timeout_s: float = 0.05) -> int:
        """Wait for data (at most `timeout_s`), write everything received; returns the messages written."""
        return self.tap.spin_once(self._write, timeout_s)

    def _write(self, topic: str, typename: str, data: bytes, t_ns: int) -> None:
        self.writer.write(topic, data, t_ns)
        ns = self._marker_topics.get(topic)
        if ns is not None:
            from .viz import MARKER_SUFFIX, objects_to_markers
            try:
                markers = objects_to_markers(_msgs.deserialize(data, typename), ns)
                self.writer.write(topic + MARKER_SUFFIX, _msgs.serialize(markers), t_ns)
            except _msgs.MessageError as exc:
                self.tap.errors.append(f'{topic}: not converted to markers: {exc}')

    def run(self, duration_s: float | None = None) -> None:
        """Record until `duration_s` passes or `stop()` is called (from another thread or a signal handler)."""
        self.tap.run(self._write, duration_s)

    def stop(self) -> None:
        self.tap.stop()

    def _can_loop(self) -> None:
        while not self.tap.stopped.is_set():
            try:
                frame = self._bus.recv(timeout=0.1)
            except Exception as exc:  # noqa: BLE001 - a bus error ends CAN recording, not the bag
                self._can_errors.append(f'{CAN_TOPIC}: CAN receive failed: {exc}')
                return
            if frame is not None:
                try:
                    self.writer.write_can(frame, time.time_ns())
                except BagError as exc:
                    self._can_errors.append(str(exc))

    def close(self) -> dict[str, int]:
        """Drain what has arrived, stop CAN recording and finish the bag; returns messages per topic."""
        self.tap.stop()
        self.spin_once(0.0)
        if self._can_thread is not None:
            self._can_thread.join(2.0)
        if self._bus is not None:
            self._bus.shutdown()
        counts = self.writer.close()
        self.graph.close()
        return counts


# ----------------------------------------------------------------------------------------------------------------
# Reading
# ----------------------------------------------------------------------------------------------------------------


def _reader(path: str | Path):
    from rosbags.rosbag2 import Reader
    p = Path(path)
    if not (p / 'metadata.yaml').is_file():
        raise BagError(f'{p}: not a rosbag2 bag (no metadata.yaml)')
    try:
        return Reader(p)
    except Exception as exc:  # rosbags' own errors
        raise BagError(f'{p}: cannot open bag: {exc}') from exc


def bag_info(path: str | Path) -> dict[str, Any]:
    """What `ros2 bag info` shows, as a dict: files, size, storage, compression, times, counts and QoS per topic."""
    p = Path(path)
    meta = yaml.safe_load((p / 'metadata.yaml').read_text()) if (p / 'metadata.yaml').is_file() else {}
    info = meta.get('rosbag2_bagfile_information', {})
    with _reader(p) as reader:
        topics = []
        for c in sorted(reader.connections, key=lambda c: c.topic):
            qos = [{'reliability': q.reliability.name, 'durability': q.durability.name, 'history': q.history.name,
                    'depth': q.depth} for q in getattr(c.ext, 'offered_qos_profiles', [])]
            topics.append({'topic': c.topic, 'type': c.msgtype, 'count': c.msgcount,
                           'serialization_format': getattr(c.ext, 'serialization_format', 'cdr'),
                           'offered_qos': qos})
        files = sorted(f.name for f in p.iterdir() if f.is_file() and f.name != 'metadata.yaml')
        try:   # MCAP chunk compression (rosbags' reader internals; metadata.yaml leaves it blank)
            chunk_comp = sorted({c.compression or 'none' for st in reader.storage.storages for c in st.chunks})
        except AttributeError:
            chunk_comp = []
        return {'path': str(p), 'files': files, 'size_bytes': sum((p / f).stat().st_size for f in files),
                'storage': info.get('storage_identifier', ''),
                'compression': info.get('compression_format', '') or
                ', '.join(f'{c} (MCAP chunks)' for c in chunk_comp if c != 'none'),
                'version': info.get('version'),
                'start_ns': reader.start_time if reader.message_count else None,
                'end_ns': reader.end_time if reader.message_count else None,
                'duration_s': reader.duration / 1e9 if reader.message_count else 0.0,
                'messages': reader.message_count, 'topics': topics}


def format_info(info: dict[str, Any]) -> str:
    """`ros2 bag info`-style text."""
    def stamp(ns):
        if ns is None:
            return '-'
        ms = ns % 1_000_000_000 // 1_000_000
        return time.strftime('%b %d %Y %H:%M:%S', time.gmtime(ns / 1e9)) + f'.{ms:03d} ({ns / 1e9:.9f})'

    lines = [f'Files:             {", ".join(info["files"])}',
             f'Bag size:          {info["size_bytes"] / 2**20:.1f} MiB',
             f'Storage id:        {info["storage"]}',
             f'Compression:       {info["compression"] or "none"}',
             f'Duration:          {info["duration_s"]:.3f}s',
             f'Start:             {stamp(info["start_ns"])}',
             f'End:               {stamp(info["end_ns"])}',
             f'Messages:          {info["messages"]}']
    width = max((len(t['topic']) for t in info['topics']), default=0)
    for i, t in enumerate(info['topics']):
        qos = ', '.join(f'{q["reliability"]}/{q["durability"]}' for q in t['offered_qos']) or '-'
        head = 'Topic information: ' if i == 0 else ' ' * 19
        lines.append(f'{head}Topic: {t["topic"]:<{width}} | Type: {t["type"]} | Count: {t["count"]} | '
                     f'Serialization Format: {t["serialization_format"]} | QoS: {qos}')
    return '\n'.join(lines)


def read_messages(path: str | Path, topics: list[str] | None = None):
    """(topic, type, receive time ns, decoded message) for every message, in time order."""
    with _reader(path) as reader:
        conns = [c for c in reader.connections if topics is None or c.topic in topics]
        for conn, t_ns, data in reader.messages(connections=conns):
            yield conn.topic, conn.msgtype, t_ns, _msgs.deserialize(data, conn.msgtype)
