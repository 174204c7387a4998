"""Send scheduling for cyclic CAN messages at their DBC cycle times (GenMsgCycleTime)."""
from __future__ import annotations

from dataclasses import dataclass, field

from .codec import VehicleCodec


@dataclass
class CyclicScheduler:
    """Tells which of a set of cyclic messages are due at time `now` (seconds, any clock).

    Works on simulation time as well as wall time: a sender that falls behind by more than one cycle
    re-phases instead of bursting, as a real ECU's OS task would.
    """

    codec: VehicleCodec
    names: tuple[str, ...]
    _next_due: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in self.names:
            info = self.codec.info(name)
            if info.cycle_time_s is None:
                raise ValueError(f"CAN message {name} is event-driven (no GenMsgCycleTime): cannot schedule it")

    def due(self, now: float) -> list[str]:
        out = []
        for name in self.names:
            cycle = self.codec.messages[name].cycle_time_s or 0.0
            nxt = self._next_due.get(name)
            if nxt is None or now >= nxt - 1e-6:
                out.append(name)
                if nxt is None or now - nxt > cycle:
                    nxt = now
                self._next_due[name] = nxt + cycle
        return out
