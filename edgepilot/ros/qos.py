"""QoS profiles mirroring rclpy's (same names and defaults) so node code reads the same on every backend."""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import IntEnum

__all__ = [
    'ReliabilityPolicy', 'DurabilityPolicy', 'HistoryPolicy', 'QoSProfile', 'as_qos',
    'qos_profile_default', 'qos_profile_sensor_data', 'qos_profile_system_default', 'qos_profile_clock',
    'qos_profile_parameters', 'qos_profile_services_default', 'qos_profile_transient_local',
]


class ReliabilityPolicy(IntEnum):
    """Values as in rmw (SYSTEM_DEFAULT resolves to RELIABLE)."""

    SYSTEM_DEFAULT = 0
    RELIABLE = 1
    BEST_EFFORT = 2


class DurabilityPolicy(IntEnum):
    SYSTEM_DEFAULT = 0
    TRANSIENT_LOCAL = 1
    VOLATILE = 2


class HistoryPolicy(IntEnum):
    SYSTEM_DEFAULT = 0
    KEEP_LAST = 1
    KEEP_ALL = 2


@dataclass(frozen=True)
class QoSProfile:
    """The subset of ROS QoS that the backends honour (reliability, durability, history, depth)."""

    history: HistoryPolicy = HistoryPolicy.KEEP_LAST
    depth: int = 10
    reliability: ReliabilityPolicy = ReliabilityPolicy.RELIABLE
    durability: DurabilityPolicy = DurabilityPolicy.VOLATILE

    def __post_init__(self) -> None:
        if self.history == HistoryPolicy.KEEP_LAST and self.depth < 1:
            raise ValueError('KEEP_LAST QoS needs depth >= 1')

    @property
    def is_reliable(self) -> bool:
        return self.reliability != ReliabilityPolicy.BEST_EFFORT

    @property
    def is_transient_local(self) -> bool:
        return self.durability == DurabilityPolicy.TRANSIENT_LOCAL

    @property
    def keep_all(self) -> bool:
        return self.history == HistoryPolicy.KEEP_ALL

    def with_(self, **changes) -> 'QoSProfile':
        """Copy with some fields changed."""
        return replace(self, **changes)


def as_qos(qos: QoSProfile | int) -> QoSProfile:
    """rclpy accepts a bare depth in place of a profile."""
    if isinstance(qos, QoSProfile):
        return qos
    if isinstance(qos, int) and not isinstance(qos, bool):
        return QoSProfile(depth=qos)
    raise TypeError(f'expected a QoSProfile or a history depth, got {qos!r}')


qos_profile_default = QoSProfile()
qos_profile_system_default = QoSProfile()
qos_profile_sensor_data = QoSProfile(depth=5, reliability=ReliabilityPolicy.BEST_EFFORT)
qos_profile_clock = QoSProfile(depth=1, reliability=ReliabilityPolicy.BEST_EFFORT)
qos_profile_parameters = QoSProfile(depth=1000)
qos_profile_services_default = QoSProfile()
qos_profile_transient_local = QoSProfile(depth=1, durability=DurabilityPolicy.TRANSIENT_LOCAL)
