"""Open CAN buses and log files from one short string.

Why: the simulator, ADAS nodes and tools must switch between an in-process bus (tests), a
multi-process bus on one machine (simulation) and a real SocketCAN interface without code
changes, and record what they see in formats other CAN tools read.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any, Iterator

import can

__all__ = [
    "BUS_SPEC_FORMS",
    "LOG_SUFFIXES",
    "BusUnavailableError",
    "DEFAULT_UDP_GROUP",
    "DEFAULT_UDP_PORT",
    "parse_bus_spec",
    "open_bus",
    "open_logger",
    "read_log",
    "BusRecorder",
]

BUS_SPEC_FORMS = (
    "virtual:NAME (in-process), udp_multicast:GROUP[@PORT] (GROUP = IPv4/IPv6 multicast address or 'default', "
    "PORT default 43113; separate ports keep parallel simulations apart), "
    "socketcan:CHANNEL (e.g. socketcan:can0)"
)
LOG_SUFFIXES = (".log", ".asc", ".blf")
DEFAULT_UDP_GROUP = "239.74.163.2"  # python-can's default IPv4 group
DEFAULT_UDP_PORT = 43113


class BusUnavailableError(OSError):
    """The spec is valid but the interface cannot be opened here (e.g. no can0)."""


def parse_bus_spec(spec: str) -> tuple[str, str]:
    """Split and validate 'KIND:ARG'; returns (interface, channel) for python-can."""
    if not isinstance(spec, str) or ":" not in spec:
        raise ValueError(f"invalid CAN bus spec {spec!r}: expected one of {BUS_SPEC_FORMS}")
    kind, _, arg = spec.partition(":")
    kind = kind.strip().lower()
    arg = arg.strip()
    if not arg:
        raise ValueError(f"invalid CAN bus spec {spec!r}: missing name after ':'; expected one of {BUS_SPEC_FORMS}")
    if kind == "virtual":
        return "virtual", arg
    if kind == "udp_multicast":
        arg = arg.rpartition("@")[0] if "@" in arg else arg
        if arg.lower() == "default":
            return "udp_multicast", DEFAULT_UDP_GROUP
        try:
            addr = ipaddress.ip_address(arg.strip("[]"))
        except ValueError:
            raise ValueError(
                f"invalid CAN bus spec {spec!r}: {arg!r} is not an IP address; expected one of {BUS_SPEC_FORMS}"
            ) from None
        if not addr.is_multicast:
            raise ValueError(
                f"invalid CAN bus spec {spec!r}: {arg} is not a multicast address "
                f"(IPv4 224.0.0.0/4 or IPv6 ff00::/8); expected one of {BUS_SPEC_FORMS}"
            )
        return "udp_multicast", str(addr)
    if kind == "socketcan":
        return "socketcan", arg
    raise ValueError(f"invalid CAN bus spec {spec!r}: unknown kind {kind!r}; expected one of {BUS_SPEC_FORMS}")


def _udp_port(spec: str) -> int:
    port = spec.rpartition("@")[2]
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"invalid CAN bus spec {spec!r}: port {port!r} is not a number in 1..65535; "
                         f"expected one of {BUS_SPEC_FORMS}")
    return int(port)


def open_bus(spec: str, **kw: Any) -> can.BusABC:
    """Open a python-can bus from a spec string; extra keywords go to python-can (e.g. port=)."""
    interface, channel = parse_bus_spec(spec)
    if interface == "udp_multicast" and "@" in spec:
        kw.setdefault("port", _udp_port(spec))
    if interface == "virtual":
        kw.setdefault("receive_own_messages", False)
        return can.Bus(interface="virtual", channel=channel, **kw)
    if interface == "udp_multicast":
        kw.setdefault("fd", False)  # the vehicle network is classic CAN
        kw.setdefault("port", DEFAULT_UDP_PORT)
        try:
            return can.Bus(interface="udp_multicast", channel=channel, **kw)
        except (OSError, can.CanError) as exc:
            raise BusUnavailableError(f"cannot open CAN bus {spec!r}: {exc}") from exc
    try:
        return can.Bus(interface="socketcan", channel=channel, **kw)
    except (OSError, can.CanError, ImportError) as exc:
        raise BusUnavailableError(
            f"cannot open CAN bus {spec!r}: {exc} (is the SocketCAN interface {channel!r} present and up?)"
        ) from exc


def _check_log_suffix(path: str | Path) -> Path:
    p = Path(path)
    if p.suffix.lower() not in LOG_SUFFIXES:
        raise ValueError(
            f"unsupported CAN log file {str(p)!r}: suffix {p.suffix or '(none)'!r}, allowed {', '.join(LOG_SUFFIXES)}"
        )
    return p


def open_logger(path: str | Path, **kw: Any) -> can.io.generic.MessageWriter:
    """A python-can writer for candump .log, Vector .asc or .blf, chosen by suffix; use as a context manager."""
    p = _check_log_suffix(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    return can.Logger(str(p), **kw)


def read_log(path: str | Path) -> Iterator[can.Message]:
    """Iterate the frames of a .log/.asc/.blf file (file closed at the end)."""
    p = _check_log_suffix(path)
    if not p.is_file():
        raise FileNotFoundError(f"CAN log file not found: {str(p)!r}")
    with can.LogReader(str(p)) as reader:
        yield from reader


class BusRecorder:
    """Wrap a bus so every frame it receives (and optionally sends) is also written to a log file.

    Use `recv()` / iteration / `send()` exactly like the wrapped bus; `close()` flushes the log
    (the bus itself is closed only when `close_bus=True`).
    """

    def __init__(self, bus: can.BusABC, path: str | Path, *, log_sent: bool = True, close_bus: bool = False):
        self.bus = bus
        self.path = Path(path)
        self.log_sent = log_sent
        self.close_bus = close_bus
        self.recorded = 0
        self._writer = open_logger(path)

    def recv(self, timeout: float | None = None) -> can.Message | None:
        msg = self.bus.recv(timeout)
        if msg is not None:
            self._writer(msg)
            self.recorded += 1
        return msg

    def send(self, msg: can.Message, timeout: float | None = None) -> None:
        self.bus.send(msg, timeout)
        if self.log_sent:
            self._writer(msg)
            self.recorded += 1

    def __iter__(self) -> Iterator[can.Message]:
        while True:
            msg = self.recv(timeout=1.0)
            if msg is not None:
                yield msg

    def close(self) -> None:
        self._writer.stop()
        if self.close_bus:
            self.bus.shutdown()

    def __enter__(self) -> "BusRecorder":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
