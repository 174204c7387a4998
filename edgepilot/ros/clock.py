"""Time, Duration and clocks (rclpy-like) with pluggable time sources: wall, /clock (sim time) or lockstep."""

from __future__ import annotations

import time as _time
from dataclasses import dataclass
from enum import IntEnum
from typing import Callable

__all__ = ['ClockType', 'Time', 'Duration', 'Clock']

_NS = 1_000_000_000


class ClockType(IntEnum):
    ROS_TIME = 1
    SYSTEM_TIME = 2
    STEADY_TIME = 3


@dataclass(frozen=True, order=True)
class Duration:
    """A span of time in integer nanoseconds (exact; no float drift in timers)."""

    nanoseconds: int = 0

    @classmethod
    def from_seconds(cls, seconds: float) -> 'Duration':
        return cls(int(round(seconds * _NS)))

    def to_msg(self):
        from .msgs import get_message
        sec, ns = divmod(self.nanoseconds, _NS)
        return get_message('builtin_interfaces/msg/Duration')(sec=sec, nanosec=ns)

    def seconds(self) -> float:
        return self.nanoseconds / _NS


@dataclass(frozen=True)
class Time:
    """A point in time in integer nanoseconds, rclpy-compatible accessors."""

    nanoseconds: int = 0
    clock_type: ClockType = ClockType.ROS_TIME

    def __post_init__(self) -> None:
        if self.nanoseconds < 0:
            raise ValueError(f'negative time {self.nanoseconds} ns')

    @classmethod
    def from_msg(cls, msg, clock_type: ClockType = ClockType.ROS_TIME) -> 'Time':
        return cls(msg.sec * _NS + msg.nanosec, clock_type)

    @classmethod
    def from_seconds(cls, seconds: float, clock_type: ClockType = ClockType.ROS_TIME) -> 'Time':
        return cls(int(round(seconds * _NS)), clock_type)

    def to_msg(self):
        """builtin_interfaces/msg/Time."""
        from .msgs import get_message
        sec, ns = divmod(self.nanoseconds, _NS)
        return get_message('builtin_interfaces/msg/Time')(sec=sec, nanosec=ns)

    def seconds_nanoseconds(self) -> tuple[int, int]:
        return divmod(self.nanoseconds, _NS)

    def seconds(self) -> float:
        return self.nanoseconds / _NS

    def _check(self, other: 'Time') -> None:
        if other.clock_type != self.clock_type:
            raise TypeError("can't compare times with different clock types")

    def __sub__(self, other):
        if isinstance(other, Time):
            self._check(other)
            return Duration(self.nanoseconds - other.nanoseconds)
        if isinstance(other, Duration):
            return Time(self.nanoseconds - other.nanoseconds, self.clock_type)
        return NotImplemented

    def __add__(self, other):
        if isinstance(other, Duration):
            return Time(self.nanoseconds + other.nanoseconds, self.clock_type)
        return NotImplemented

    def __lt__(self, other: 'Time') -> bool:
        self._check(other)
        return self.nanoseconds < other.nanoseconds

    def __le__(self, other: 'Time') -> bool:
        self._check(other)
        return self.nanoseconds <= other.nanoseconds

    def __gt__(self, other: 'Time') -> bool:
        self._check(other)
        return self.nanoseconds > other.nanoseconds

    def __ge__(self, other: 'Time') -> bool:
        self._check(other)
        return self.nanoseconds >= other.nanoseconds


def wall_time_ns() -> int:
    return _time.time_ns()


class Clock:
    """A clock reading from a time source function (ns); the source can be swapped (use_sim_time, lockstep)."""

    def __init__(self, source: Callable[[], int] = wall_time_ns, clock_type: ClockType = ClockType.ROS_TIME) -> None:
        self._source = source
        self.clock_type = clock_type
        self.ros_time_is_active = False

    def set_source(self, source: Callable[[], int], *, sim: bool) -> None:
        self._source = source
        self.ros_time_is_active = sim

    def now(self) -> Time:
        return Time(self._source(), self.clock_type)

    def now_ns(self) -> int:
        return self._source()


class SimTimeSource:
    """Latest time received on /clock (0 until the first message, as in ROS)."""

    def __init__(self) -> None:
        self.ns = 0

    def __call__(self) -> int:
        return self.ns

    def on_clock(self, msg) -> None:
        self.ns = msg.clock.sec * _NS + msg.clock.nanosec
