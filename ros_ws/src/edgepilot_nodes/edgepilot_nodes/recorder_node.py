"""recorder: writes the graph's topics and the CAN bus to a rosbag2 bag (MCAP, zstd chunks) while the stack runs.

A thin node over edgepilot.ros.bag.Recorder, which reads the wire directly (raw CDR, never re-encoded) on its
own thread; the bag is finished (index, metadata.yaml) when the node shuts down, so Ctrl-C or the launch ending
leaves a complete bag. Topics appear in the bag as their publishers are discovered.
"""
from __future__ import annotations

import threading
import time
from pathlib import Path

from edgepilot.ros import Node
from edgepilot.ros.bag import Recorder
from edgepilot.ros.run_node import main_for


class RecorderNode(Node):
    def __init__(self, **kwargs) -> None:
        super().__init__("recorder", **kwargs)
        out = str(self.declare_parameter("output", "").value)
        out_dir = str(self.declare_parameter("out_dir", "out").value)
        topics = [t for t in str(self.declare_parameter("topics", "").value).split(",") if t.strip()]
        exclude = str(self.declare_parameter("exclude", "").value) or None
        can_bus = str(self.declare_parameter("can_bus", "").value) or None
        compress = bool(self.declare_parameter("compress", True).value)
        path = Path(out) if out else Path(out_dir) / time.strftime("rosbag2_%Y_%m_%d-%H_%M_%S")
        self.recorder = Recorder(path, topics=[t.strip() for t in topics] or None, exclude=exclude, can_bus=can_bus,
                                 compress=compress)
        self._thread = threading.Thread(target=self.recorder.run, name="recorder", daemon=True)
        self._thread.start()
        self.get_logger().info(f"recording to {path}" + (f" (+ CAN {can_bus})" if can_bus else ""))

    def destroy_node(self) -> None:
        self.recorder.stop()
        self._thread.join(5.0)
        counts = self.recorder.close()
        for err in self.recorder.errors:
            self.get_logger().warning(err)
        self.get_logger().info(f"bag {self.recorder.out}: {sum(counts.values())} messages on {len(counts)} topics")
        super().destroy_node()


main = main_for(RecorderNode)
