"""AUTOSAR E2E Profile 5 and Profile 1 protection for CAN frames.

Why: a receiver must notice corrupted, repeated, lost and stale frames before it acts on a command.
The CRCs and protect/check functions are pure; `E2EReceiver` keeps the per-message state a real
receiver needs (last counter, last valid time) and takes time as an argument so it runs on
simulation time as well as wall time.

Layouts (CRC offset 0, as in the vehicle DBC):
- Profile 5: CRC-16/CCITT-FALSE over bytes[2:length] then Data ID low, high byte; CRC little-endian
  in bytes 0-1; 8-bit alive counter (0..255) in byte 2.
- Profile 1: CRC8 SAE-J1850 (init 0x00, xor 0x00) over Data ID low, high byte (mode BOTH), then
  bytes[1:length]; CRC in byte 0; counter 0..14 in the low nibble of byte 1.
"""

from __future__ import annotations

import enum
import math
from collections import Counter
from dataclasses import dataclass, field

__all__ = [
    "E2EStatus",
    "E2EError",
    "E2EConfig",
    "E2EReceiver",
    "E2EMonitor",
    "VALID_STATUSES",
    "crc16_ccitt_false",
    "crc8_sae_j1850",
    "p5_crc",
    "p5_protect",
    "p5_check",
    "p1_crc",
    "p1_protect",
    "p1_check",
    "p5_counter",
    "p1_counter",
    "P5_COUNTER_MODULO",
    "P1_COUNTER_MODULO",
]

P5_COUNTER_MODULO = 256
P1_COUNTER_MODULO = 15  # counter values 0..14; 15 is invalid in Profile 1
_TIME_EPS = 1e-9  # float slack so a frame exactly at the timeout boundary is not stale


class E2EError(ValueError):
    """Raised for invalid protect/check arguments (bad Data ID, counter or length)."""


class E2EStatus(enum.Enum):
    """Result of checking one frame (or polling a receiver for staleness)."""

    OK = "OK"  # valid CRC, counter advanced by exactly 1 (or first frame / resync after timeout)
    OK_SOME_LOST = "OK_SOME_LOST"  # valid CRC, counter advanced by 2..max_delta_counter
    WRONG_CRC = "WRONG_CRC"  # CRC mismatch: corrupted frame or wrong Data ID
    WRONG_LENGTH = "WRONG_LENGTH"  # frame shorter/longer than configured
    REPEATED = "REPEATED"  # same counter as the last valid frame
    WRONG_SEQUENCE = "WRONG_SEQUENCE"  # counter jumped by more than max_delta_counter
    TIMEOUT = "TIMEOUT"  # no valid frame within the timeout (from poll())
    NO_DATA = "NO_DATA"  # nothing valid received yet (from poll())
    NOT_PROTECTED = "NOT_PROTECTED"  # message has no E2E protection (used by the codec)


VALID_STATUSES = frozenset({E2EStatus.OK, E2EStatus.OK_SOME_LOST, E2EStatus.NOT_PROTECTED})


# --------------------------------------------------------------------------------------------- CRCs


def _table16(poly: int) -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ poly) & 0xFFFF if crc & 0x8000 else (crc << 1) & 0xFFFF
        table.append(crc)
    return tuple(table)


def _table8(poly: int) -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = ((crc << 1) ^ poly) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
        table.append(crc)
    return tuple(table)


_CRC16_TABLE = _table16(0x1021)
_CRC8_TABLE = _table8(0x1D)


def crc16_ccitt_false(data: bytes, init: int = 0xFFFF) -> int:
    """CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF, no reflection, no xor-out); chainable via init."""
    crc = init
    table = _CRC16_TABLE
    for b in data:
        crc = ((crc << 8) & 0xFFFF) ^ table[(crc >> 8) ^ b]
    return crc


def crc8_sae_j1850(data: bytes, init: int = 0xFF, xor_out: int = 0xFF) -> int:
    """CRC8 SAE-J1850 (poly 0x1D); defaults are the plain standard (init/xor 0xFF), E2E P1 uses 0x00/0x00."""
    crc = init
    table = _CRC8_TABLE
    for b in data:
        crc = table[crc ^ b]
    return crc ^ xor_out


# --------------------------------------------------------------------------------------- Profile 5


def _check_data_id(data_id: int) -> None:
    if not isinstance(data_id, int) or not 0 <= data_id <= 0xFFFF:
        raise E2EError(f"E2E Data ID {data_id!r} out of range: allowed [0, 65535]")


def _check_length(data: bytes, length: int | None, minimum: int, profile: int) -> int:
    n = len(data) if length is None else length
    if n < minimum or n > len(data):
        raise E2EError(
            f"E2E Profile {profile} length {n} invalid for a {len(data)}-byte frame: allowed [{minimum}, {len(data)}]"
        )
    return n


def p5_crc(data: bytes, data_id: int, length: int | None = None) -> int:
    """Profile 5 CRC of a frame: bytes[2:length] then Data ID low and high byte."""
    _check_data_id(data_id)
    n = _check_length(data, length, 3, 5)
    crc = crc16_ccitt_false(bytes(data[2:n]))
    return crc16_ccitt_false(bytes((data_id & 0xFF, data_id >> 8)), crc)


def p5_protect(data: bytes, data_id: int, counter: int, length: int | None = None) -> bytes:
    """Write counter into byte 2 and the Profile 5 CRC (little-endian) into bytes 0-1."""
    if not isinstance(counter, int) or not 0 <= counter < P5_COUNTER_MODULO:
        raise E2EError(f"E2E Profile 5 counter {counter!r} out of range: allowed [0, 255]")
    buf = bytearray(data)
    _check_length(buf, length, 3, 5)
    buf[2] = counter
    crc = p5_crc(buf, data_id, length)
    buf[0] = crc & 0xFF
    buf[1] = crc >> 8
    return bytes(buf)


def p5_check(data: bytes, data_id: int, length: int | None = None) -> bool:
    """True when the CRC in bytes 0-1 matches the frame and Data ID."""
    if len(data) < 3:
        return False
    return (data[0] | (data[1] << 8)) == p5_crc(data, data_id, length)


def p5_counter(data: bytes) -> int:
    """The Profile 5 alive counter (byte 2)."""
    return data[2]


# --------------------------------------------------------------------------------------- Profile 1


def p1_crc(data: bytes, data_id: int, length: int | None = None) -> int:
    """Profile 1 CRC (Data ID mode BOTH): Data ID low, high byte, then bytes[1:length]."""
    _check_data_id(data_id)
    n = _check_length(data, length, 2, 1)
    crc = crc8_sae_j1850(bytes((data_id & 0xFF, data_id >> 8)), 0x00, 0x00)
    return crc8_sae_j1850(bytes(data[1:n]), crc, 0x00)


def p1_protect(data: bytes, data_id: int, counter: int, length: int | None = None) -> bytes:
    """Write counter into the low nibble of byte 1 and the Profile 1 CRC into byte 0."""
    if not isinstance(counter, int) or not 0 <= counter < P1_COUNTER_MODULO:
        raise E2EError(f"E2E Profile 1 counter {counter!r} out of range: allowed [0, 14]")
    buf = bytearray(data)
    _check_length(buf, length, 2, 1)
    buf[1] = (buf[1] & 0xF0) | counter
    buf[0] = p1_crc(buf, data_id, length)
    return bytes(buf)


def p1_check(data: bytes, data_id: int, length: int | None = None) -> bool:
    """True when byte 0 matches the Profile 1 CRC and the counter nibble is a valid 0..14."""
    if len(data) < 2 or (data[1] & 0x0F) == 0x0F:
        return False
    return data[0] == p1_crc(data, data_id, length)


def p1_counter(data: bytes) -> int:
    """The Profile 1 counter (low nibble of byte 1)."""
    return data[1] & 0x0F


# ------------------------------------------------------------------------------ receiver state


@dataclass(frozen=True)
class E2EConfig:
    """Static E2E settings of one message.

    cycle_time_s None (event-driven message) disables the timeout check.
    """

    data_id: int
    profile: int = 5
    length: int = 8
    max_delta_counter: int = 1
    cycle_time_s: float | None = None
    timeout_cycles: float = 3.0

    def __post_init__(self) -> None:
        if self.profile not in (1, 5):
            raise E2EError(f"E2E profile {self.profile!r} not supported: allowed 1 or 5")
        _check_data_id(self.data_id)
        modulo = P5_COUNTER_MODULO if self.profile == 5 else P1_COUNTER_MODULO
        if not 1 <= self.max_delta_counter < modulo:
            raise E2EError(
                f"E2E max_delta_counter {self.max_delta_counter!r} out of range: allowed [1, {modulo - 1}]"
            )
        if self.cycle_time_s is not None and not (self.cycle_time_s > 0 and math.isfinite(self.cycle_time_s)):
            raise E2EError(f"E2E cycle_time_s {self.cycle_time_s!r} invalid: must be a positive number or None")
        if not self.timeout_cycles > 0:
            raise E2EError(f"E2E timeout_cycles {self.timeout_cycles!r} invalid: must be > 0")

    @property
    def counter_modulo(self) -> int:
        return P5_COUNTER_MODULO if self.profile == 5 else P1_COUNTER_MODULO

    @property
    def timeout_s(self) -> float | None:
        """Longest allowed gap between valid frames, or None when not cyclic."""
        return None if self.cycle_time_s is None else self.cycle_time_s * self.timeout_cycles

    def protect(self, data: bytes, counter: int) -> bytes:
        if self.profile == 5:
            return p5_protect(data, self.data_id, counter, self.length)
        return p1_protect(data, self.data_id, counter, self.length)


@dataclass
class E2EReceiver:
    """Receiver-side E2E state of one message: CRC, counter continuity and timeout.

    A frame with a valid CRC always becomes the new reference counter (so a receiver resyncs
    after one WRONG_SEQUENCE); only OK and OK_SOME_LOST frames refresh the timeout clock.
    """

    config: E2EConfig
    name: str = ""
    last_counter: int | None = None
    last_valid_time: float | None = None
    last_status: E2EStatus = E2EStatus.NO_DATA
    counts: Counter = field(default_factory=Counter)

    @property
    def rejected(self) -> int:
        """Frames rejected so far (everything except OK / OK_SOME_LOST), plus timeouts entered."""
        return sum(n for s, n in self.counts.items() if s not in VALID_STATUSES)

    def _stale(self, now: float) -> bool:
        timeout = self.config.timeout_s
        return (
            timeout is not None
            and self.last_valid_time is not None
            and now - self.last_valid_time > timeout + _TIME_EPS
        )

    def check(self, data: bytes, now: float) -> E2EStatus:
        """Check one received frame at time `now` (seconds, any monotonic clock)."""
        cfg = self.config
        if len(data) != cfg.length:
            status = E2EStatus.WRONG_LENGTH
        else:
            if cfg.profile == 5:
                crc_ok, counter = p5_check(data, cfg.data_id, cfg.length), p5_counter(data)
            else:
                crc_ok, counter = p1_check(data, cfg.data_id, cfg.length), p1_counter(data)
            if not crc_ok:
                status = E2EStatus.WRONG_CRC
            else:
                if self.last_counter is None or self._stale(now):
                    status = E2EStatus.OK  # first frame, or resync after a timeout
                else:
                    delta = (counter - self.last_counter) % cfg.counter_modulo
                    if delta == 0:
                        status = E2EStatus.REPEATED
                    elif delta == 1:
                        status = E2EStatus.OK
                    elif delta <= cfg.max_delta_counter:
                        status = E2EStatus.OK_SOME_LOST
                    else:
                        status = E2EStatus.WRONG_SEQUENCE
                self.last_counter = counter
                if status in VALID_STATUSES:
                    self.last_valid_time = now
        self.counts[status] += 1
        self.last_status = status
        return status

    def poll(self, now: float) -> E2EStatus:
        """Current health at `now`: TIMEOUT when stale, NO_DATA before the first valid frame."""
        if self.last_valid_time is None:
            return E2EStatus.NO_DATA
        if self._stale(now):
            if self.last_status is not E2EStatus.TIMEOUT:
                self.counts[E2EStatus.TIMEOUT] += 1  # count each entry into timeout once
                self.last_status = E2EStatus.TIMEOUT
            return E2EStatus.TIMEOUT
        return self.last_status

    def reset(self) -> None:
        self.last_counter = None
        self.last_valid_time = None
        self.last_status = E2EStatus.NO_DATA
        self.counts.clear()


@dataclass
class E2EMonitor:
    """E2E receivers for a set of messages, addressed by message name."""

    receivers: dict[str, E2EReceiver] = field(default_factory=dict)

    def add(self, name: str, config: E2EConfig) -> E2EReceiver:
        rx = E2EReceiver(config=config, name=name)
        self.receivers[name] = rx
        return rx

    def _get(self, name: str) -> E2EReceiver:
        try:
            return self.receivers[name]
        except KeyError:
            known = ", ".join(sorted(self.receivers)) or "none"
            raise KeyError(f"no E2E receiver for message {name!r}; protected messages: {known}") from None

    def check(self, name: str, data: bytes, now: float) -> E2EStatus:
        return self._get(name).check(data, now)

    def poll(self, now: float) -> dict[str, E2EStatus]:
        """Status of every receiver at `now` (timeouts included)."""
        return {name: rx.poll(now) for name, rx in self.receivers.items()}

    def rejections(self) -> dict[str, int]:
        return {name: rx.rejected for name, rx in self.receivers.items()}

    def stats(self) -> dict[str, dict[str, int]]:
        return {name: {s.value: n for s, n in rx.counts.items()} for name, rx in self.receivers.items()}
