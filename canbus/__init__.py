"""CAN layer of EdgePilot: vehicle DBC, AUTOSAR E2E, codec, bus/log helpers and CLI commands."""

from .bus import BusRecorder, BusUnavailableError, open_bus, open_logger, parse_bus_spec, read_log
from .codec import (
    DBC_PATH,
    CodecError,
    DecodedFrame,
    MessageInfo,
    MissingSignalError,
    SignalRangeError,
    UnknownMessageError,
    UnknownSignalError,
    VehicleCodec,
    load_dbc,
)
from .e2e import E2EConfig, E2EMonitor, E2EReceiver, E2EStatus

__all__ = [
    "DBC_PATH",
    "BusRecorder",
    "BusUnavailableError",
    "CodecError",
    "DecodedFrame",
    "E2EConfig",
    "E2EMonitor",
    "E2EReceiver",
    "E2EStatus",
    "MessageInfo",
    "MissingSignalError",
    "SignalRangeError",
    "UnknownMessageError",
    "UnknownSignalError",
    "VehicleCodec",
    "load_dbc",
    "open_bus",
    "open_logger",
    "parse_bus_spec",
    "read_log",
]
