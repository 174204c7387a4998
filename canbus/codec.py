"""Encode/decode EdgePilot vehicle CAN frames with E2E protection applied automatically.

Why: ECUs and bridges should speak in physical signal values; counters, CRCs, range checks and
receiver-side E2E supervision are the codec's job so no caller can forget them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, NamedTuple

import can
import cantools
from cantools.database.can import Database, Message

from .e2e import VALID_STATUSES, E2EConfig, E2EMonitor, E2EStatus

__all__ = [
    "DBC_PATH",
    "CodecError",
    "UnknownMessageError",
    "UnknownSignalError",
    "MissingSignalError",
    "SignalRangeError",
    "MessageInfo",
    "DecodedFrame",
    "VehicleCodec",
    "load_dbc",
]

DBC_PATH = Path(__file__).resolve().parent / "dbc" / "edgepilot_vehicle.dbc"


class CodecError(ValueError):
    """Base class of encode/decode errors."""


class UnknownMessageError(CodecError):
    """Message name or frame id not in the DBC."""


class UnknownSignalError(CodecError):
    """Signal not part of the message (or reserved for E2E)."""


class MissingSignalError(CodecError):
    """A signal of the message was not given."""


class SignalRangeError(CodecError):
    """Value outside the DBC [min, max] of a signal (or not a number / not a known choice)."""

    def __init__(self, message: str, signal: str, value: Any, minimum: float, maximum: float, detail: str = ""):
        self.message_name = message
        self.signal = signal
        self.value = value
        self.minimum = minimum
        self.maximum = maximum
        text = (
            f"{message}.{signal} = {value!r} is out of range: allowed [{_fmt(minimum)}, {_fmt(maximum)}]"
        )
        super().__init__(text + (f" ({detail})" if detail else ""))


def _fmt(x: float) -> str:
    return f"{x:g}" if isinstance(x, float) else str(x)


def load_dbc(path: str | Path | None = None, strict: bool = True) -> Database:
    """Load the vehicle DBC (default: the packaged edgepilot_vehicle.dbc) with cantools."""
    return cantools.database.load_file(str(path or DBC_PATH), strict=strict)


@dataclass(frozen=True)
class MessageInfo:
    """What a sender/receiver needs to know about one message."""

    name: str
    frame_id: int
    length: int
    senders: tuple[str, ...]
    receivers: tuple[str, ...]
    cycle_time_s: float | None  # None: event-driven (sent on change)
    signals: tuple[str, ...]  # user signals (without the E2E CRC/counter)
    e2e: E2EConfig | None
    crc_signal: str | None
    counter_signal: str | None

    @property
    def event_driven(self) -> bool:
        return self.cycle_time_s is None

    @property
    def protected(self) -> bool:
        return self.e2e is not None


class DecodedFrame(NamedTuple):
    """Result of `VehicleCodec.decode`; unpacks as (name, signals, e2e)."""

    name: str
    signals: dict[str, Any]
    e2e: E2EStatus
    timestamp: float = 0.0
    frame_id: int = 0
    counter: int | None = None

    @property
    def valid(self) -> bool:
        """True when the receiver may use the signals (E2E OK, some lost, or unprotected)."""
        return self.e2e in VALID_STATUSES


def _attr(message: Message, name: str) -> Any:
    attrs = message.dbc.attributes if message.dbc is not None else {}
    return attrs[name].value if name in attrs else None


def _message_info(message: Message, timeout_cycles: float, max_delta_counter: int) -> MessageInfo:
    send_type = _attr(message, "GenMsgSendType")
    if send_type is not None and not isinstance(send_type, str):
        definition = message.dbc.attributes["GenMsgSendType"].definition
        send_type = definition.choices[send_type]
    cycle_ms = message.cycle_time
    cycle_s = cycle_ms / 1000.0 if cycle_ms and send_type != "Event" else None
    crc_sig = f"{message.name}_CRC"
    cnt_sig = f"{message.name}_COUNTER"
    names = [s.name for s in message.signals]
    profile = _attr(message, "E2EProfile") or 0
    e2e = None
    if profile:
        data_id = _attr(message, "E2EDataID")
        if profile != 5 or crc_sig not in names or cnt_sig not in names or data_id is None:
            raise CodecError(
                f"message {message.name}: E2EProfile {profile} needs profile 5, signals {crc_sig} and "
                f"{cnt_sig} and an E2EDataID attribute"
            )
        e2e = E2EConfig(
            data_id=int(data_id),
            profile=5,
            length=message.length,
            max_delta_counter=max_delta_counter,
            cycle_time_s=cycle_s,
            timeout_cycles=timeout_cycles,
        )
    user = tuple(n for n in names if e2e is None or n not in (crc_sig, cnt_sig))
    receivers = sorted({r for s in message.signals for r in s.receivers if r != "Vector__XXX"})
    return MessageInfo(
        name=message.name,
        frame_id=message.frame_id,
        length=message.length,
        senders=tuple(message.senders),
        receivers=tuple(receivers),
        cycle_time_s=cycle_s,
        signals=user,
        e2e=e2e,
        crc_signal=crc_sig if e2e else None,
        counter_signal=cnt_sig if e2e else None,
    )


class VehicleCodec:
    """DBC-backed encoder/decoder with per-message E2E counters (send) and supervision (receive).

    One instance per ECU/process: it keeps the alive counters of what it sends and the E2E state
    of what it receives.
    """

    def __init__(
        self,
        path: str | Path | None = None,
        *,
        timeout_cycles: float = 3.0,
        max_delta_counter: int = 1,
        decode_choices: bool = False,
    ) -> None:
        self.db: Database = load_dbc(path, strict=True)
        self.decode_choices = decode_choices
        self._by_name: dict[str, Message] = {m.name: m for m in self.db.messages}
        self._by_id: dict[int, Message] = {m.frame_id: m for m in self.db.messages}
        self.messages: dict[str, MessageInfo] = {
            m.name: _message_info(m, timeout_cycles, max_delta_counter) for m in self.db.messages
        }
        self._counters: dict[str, int] = {n: 0 for n, i in self.messages.items() if i.protected}
        self.monitor = E2EMonitor()
        for name, info in self.messages.items():
            if info.e2e is not None:
                self.monitor.add(name, info.e2e)
        # Per signal: (minimum, maximum, choices name->number) for the range check before encoding.
        self._limits: dict[str, dict[str, tuple[float, float, dict[str, int]]]] = {}
        for m in self.db.messages:
            lim = {}
            for s in m.signals:
                choices = {str(v): int(k) for k, v in (s.choices or {}).items()}
                lo = s.minimum if s.minimum is not None else -math.inf
                hi = s.maximum if s.maximum is not None else math.inf
                lim[s.name] = (lo, hi, choices)
            self._limits[m.name] = lim

    # ------------------------------------------------------------------------------- lookup

    def info(self, name: str) -> MessageInfo:
        try:
            return self.messages[name]
        except KeyError:
            raise UnknownMessageError(
                f"unknown CAN message {name!r}; known messages: {', '.join(sorted(self.messages))}"
            ) from None

    def frame_id(self, name: str) -> int:
        return self.info(name).frame_id

    def name_of(self, frame_id: int) -> str | None:
        """Message name of a frame id, None when the id is not in the DBC."""
        m = self._by_id.get(frame_id)
        return m.name if m is not None else None

    def _message(self, name_or_id: str | int) -> Message:
        if isinstance(name_or_id, int):
            m = self._by_id.get(name_or_id)
            if m is None:
                raise UnknownMessageError(f"unknown CAN frame id 0x{name_or_id:X}: not in the vehicle DBC")
            return m
        m = self._by_name.get(name_or_id)
        if m is None:
            self.info(name_or_id)  # raises with the list of known names
        return m  # type: ignore[return-value]

    # ------------------------------------------------------------------------------- encode

    def validate(self, name: str, signals: Mapping[str, Any]) -> dict[str, float | int]:
        """Check a user signal dict against the DBC and return numeric values ready for cantools."""
        info = self.info(name)
        limits = self._limits[name]
        out: dict[str, float | int] = {}
        for sig, value in signals.items():
            if sig not in limits:
                raise UnknownSignalError(
                    f"unknown signal {sig!r} in message {name}; signals: {', '.join(info.signals)}"
                )
            if info.protected and sig in (info.crc_signal, info.counter_signal):
                raise UnknownSignalError(
                    f"signal {name}.{sig} is set by the E2E layer; pass counter= to encode() instead"
                )
            lo, hi, choices = limits[sig]
            if isinstance(value, str) or (hasattr(value, "name") and not isinstance(value, (int, float))):
                key = str(getattr(value, "name", value))
                if key not in choices:
                    allowed = ", ".join(choices) if choices else "numbers only"
                    raise SignalRangeError(name, sig, value, lo, hi, f"choices: {allowed}")
                value = choices[key]
            elif isinstance(value, bool):
                value = int(value)
            elif not isinstance(value, (int, float)):
                try:
                    value = float(value)  # numpy scalars and the like
                except (TypeError, ValueError):
                    raise SignalRangeError(name, sig, value, lo, hi, "not a number") from None
            if not (lo <= value <= hi):  # also rejects NaN
                raise SignalRangeError(name, sig, value, lo, hi)
            out[sig] = value
        missing = [s for s in info.signals if s not in out]
        if missing:
            raise MissingSignalError(f"message {name} is missing signal(s): {', '.join(missing)}")
        return out

    def next_counter(self, name: str) -> int:
        """The alive counter the next encode() of a protected message will use."""
        info = self.info(name)
        if not info.protected:
            raise CodecError(f"message {name} is not E2E protected and has no counter")
        return self._counters[name]

    def encode_message(self, name: str, signals: Mapping[str, Any], counter: int | None = None) -> bytes:
        """Frame payload for `name`; E2E counter and CRC are filled in for protected messages."""
        values = self.validate(name, signals)
        info = self.messages[name]
        message = self._by_name[name]
        if info.e2e is None:
            if counter is not None:
                raise CodecError(f"message {name} is not E2E protected; counter={counter!r} not allowed")
            return message.encode(values, strict=False)
        if counter is None:
            counter = self._counters[name]
        elif not isinstance(counter, int) or not 0 <= counter < info.e2e.counter_modulo:
            raise CodecError(
                f"{name} counter {counter!r} out of range: allowed [0, {info.e2e.counter_modulo - 1}]"
            )
        self._counters[name] = (counter + 1) % info.e2e.counter_modulo
        values[info.crc_signal] = 0  # type: ignore[index]
        values[info.counter_signal] = counter  # type: ignore[index]
        return info.e2e.protect(message.encode(values, strict=False), counter)

    def encode(
        self,
        name: str,
        signals: Mapping[str, Any],
        counter: int | None = None,
        timestamp: float = 0.0,
    ) -> can.Message:
        """A python-can classic frame for `name` (see encode_message)."""
        data = self.encode_message(name, signals, counter)
        return can.Message(
            arbitration_id=self.messages[name].frame_id,
            data=data,
            is_extended_id=False,
            timestamp=timestamp,
        )

    # ------------------------------------------------------------------------------- decode

    def decode_message(
        self, name_or_id: str | int, data: bytes, decode_choices: bool | None = None
    ) -> dict[str, Any]:
        """All signals of a frame (CRC/counter included), without E2E supervision."""
        message = self._message(name_or_id)
        if len(data) < message.length:
            raise CodecError(
                f"frame {message.name} (0x{message.frame_id:X}) has {len(data)} bytes, expected {message.length}"
            )
        dc = self.decode_choices if decode_choices is None else decode_choices
        return dict(message.decode(bytes(data), decode_choices=dc, scaling=True))

    def decode(
        self,
        frame_id: int,
        data: bytes,
        timestamp: float = 0.0,
        decode_choices: bool | None = None,
    ) -> DecodedFrame:
        """Decode and E2E-check a received frame; `timestamp` drives counter/timeout supervision."""
        message = self._message(frame_id)
        info = self.messages[message.name]
        if info.e2e is None:
            if len(data) < message.length:
                raise CodecError(
                    f"frame {message.name} (0x{frame_id:X}) has {len(data)} bytes, expected {message.length}"
                )
            dc = self.decode_choices if decode_choices is None else decode_choices
            signals = dict(message.decode(bytes(data), decode_choices=dc, scaling=True))
            return DecodedFrame(message.name, signals, E2EStatus.NOT_PROTECTED, timestamp, frame_id, None)
        status = self.monitor.check(message.name, bytes(data), timestamp)
        if status is E2EStatus.WRONG_LENGTH:
            return DecodedFrame(message.name, {}, status, timestamp, frame_id, None)
        dc = self.decode_choices if decode_choices is None else decode_choices
        signals = dict(message.decode(bytes(data), decode_choices=dc, scaling=True))
        signals.pop(info.crc_signal, None)
        counter = signals.pop(info.counter_signal, None)
        return DecodedFrame(message.name, signals, status, timestamp, frame_id, counter)

    def decode_frame(self, msg: can.Message, decode_choices: bool | None = None) -> DecodedFrame | None:
        """Decode a python-can message; None for ids not in the DBC (and for FD/remote/error frames)."""
        if msg.is_error_frame or msg.is_remote_frame or msg.arbitration_id not in self._by_id:
            return None
        return self.decode(msg.arbitration_id, bytes(msg.data), msg.timestamp, decode_choices)

    def poll(self, now: float) -> dict[str, E2EStatus]:
        """E2E health of every protected message at `now` (TIMEOUT for stale cyclic ones)."""
        return self.monitor.poll(now)

    def reset(self) -> None:
        """Forget send counters and receiver state (e.g. on simulation restart)."""
        for name in self._counters:
            self._counters[name] = 0
        for rx in self.monitor.receivers.values():
            rx.reset()
