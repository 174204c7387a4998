"""Live visualization: a Foxglove WebSocket server (foxglove-sdk) that bridges the running graph.

Every topic goes out as it is on the wire (CDR, with its `ros2msg` schema), so Foxglove shows cameras
(sensor_msgs/Image), the planned path (nav_msgs/Path), vehicle state, the cockpit dialogue and anything else with
its own panels. Our own object lists (edgepilot_interfaces/msg/ObjectArray: ground truth, detections, tracks) are
also converted to visualization_msgs/MarkerArray on `<topic>/markers`, which Foxglove's 3D panel draws as boxes.
"""

from __future__ import annotations

from typing import Any, Callable

from . import msgs as _msgs
from .graph import Endpoint, RosGraph, TopicTap, topic_filter

__all__ = ['FoxgloveBridge', 'objects_to_markers', 'MARKER_SUFFIX']

MARKER_SUFFIX = '/markers'
OBJECT_ARRAY = 'edgepilot_interfaces/msg/ObjectArray'
MARKER_ARRAY = 'visualization_msgs/msg/MarkerArray'
# RGBA per DetectedObject classification (unknown, car, truck, pedestrian, cyclist, static)
CLASS_RGBA = {0: (0.7, 0.7, 0.7, 0.6), 1: (0.2, 0.6, 1.0, 0.6), 2: (0.1, 0.3, 0.9, 0.6),
              3: (1.0, 0.5, 0.1, 0.8), 4: (1.0, 0.9, 0.1, 0.8), 5: (0.8, 0.2, 0.2, 0.6)}
MARKER_LIFETIME_NS = 300_000_000   # boxes vanish if their topic stops


def objects_to_markers(objects: Any, ns: str) -> Any:
    """An ObjectArray as a MarkerArray: DELETEALL, then one CUBE per object (pose, size, colour by class)."""
    MarkerArray = _msgs.get_message(MARKER_ARRAY)
    Marker = _msgs.get_message('visualization_msgs/msg/Marker')
    out = MarkerArray()
    clear = Marker(header=objects.header, ns=ns, action=3)          # DELETEALL: boxes of the last frame go
    out.markers.append(clear)
    for obj in objects.objects:
        m = Marker(header=objects.header, ns=ns, id=int(obj.id), type=1,
                   action=0, pose=obj.pose)
        m.scale.x, m.scale.y, m.scale.z = (max(obj.size.x, 0.1), max(obj.size.y, 0.1), max(obj.size.z, 0.1))
        m.color.r, m.color.g, m.color.b, m.color.a = CLASS_RGBA.get(int(obj.classification), CLASS_RGBA[0])
        m.lifetime.sec, m.lifetime.nanosec = divmod(MARKER_LIFETIME_NS, 1_000_000_000)
        out.markers.append(m)
    return out


class FoxgloveBridge:
    """Foxglove WebSocket server + graph tap. `run()` bridges until `stop()`; `close()` stops the server."""

    def __init__(self, host: str = '127.0.0.1', port: int = 8765, topics: list[str] | None = None,
                 exclude: str | None = None, domain_id: int | None = None) -> None:
        import foxglove
        self._fg = foxglove
        wanted = topic_filter(topics, exclude)
        self.server = foxglove.start_server(name='edgepilot', host=host, port=port)
        self.host = host
        self.graph = RosGraph(domain_id)
        self.tap = TopicTap(self.graph, wanted, self._declare)
        self.channels: dict[str, Any] = {}
        self._derived: dict[str, tuple[Any, Callable[[Any], Any]]] = {}
        self.counts: dict[str, int] = {}

    @property
    def port(self) -> int:
        return int(self.server.port)

    @property
    def url(self) -> str:
        return f'ws://{self.host}:{self.port}'

    def _channel(self, topic: str, typename: str) -> Any:
        text, _ = _msgs.message_definition(typename)
        schema = self._fg.Schema(name=typename, encoding='ros2msg', data=text.encode())
        return self._fg.Channel(topic, schema=schema, message_encoding='cdr')

    def _declare(self, topic: str, typename: str, _eps: list[Endpoint]) -> str | None:
        try:
            self.channels[topic] = self._channel(topic, typename)
            if typename == OBJECT_ARRAY:
                ns = topic.strip('/').replace('/', '_')
                self._derived[topic] = (self._channel(topic + MARKER_SUFFIX, MARKER_ARRAY),
                                        lambda msg, ns=ns: objects_to_markers(msg, ns))
        except (KeyError, _msgs.MessageError) as exc:
            return f'no schema for {typename}: {exc}'
        self.counts[topic] = 0
        return None

    def _sink(self, topic: str, typename: str, data: bytes, t_ns: int) -> None:
        self.channels[topic].log(bytes(data), log_time=t_ns)
        self.counts[topic] += 1
        derived = self._derived.get(topic)
        if derived is not None:
            channel, convert = derived
            try:
                channel.log(_msgs.serialize(convert(_msgs.deserialize(data, typename))), log_time=t_ns)
            except _msgs.MessageError as exc:
                self.tap.errors.append(f'{topic}: not converted to markers: {exc}')

    def spin_once(self, timeout_s: float = 0.05) -> int:
        return self.tap.spin_once(self._sink, timeout_s)

    def run(self, duration_s: float | None = None) -> None:
        """Bridge until `duration_s` passes or `stop()` is called."""
        self.tap.run(self._sink, duration_s)

    def stop(self) -> None:
        self.tap.stop()

    def close(self) -> None:
        self.tap.stop()
        self.server.stop()
        self.graph.close()
