"""`edgepilot can ...` commands: decode a log file, monitor a live bus.

Why: a person debugging the vehicle network wants names and physical values, not hex, and wants
to see at a glance which E2E checks fail.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any, Iterable, TextIO

import can

from .bus import BUS_SPEC_FORMS, open_bus, read_log
from .codec import CodecError, DecodedFrame, VehicleCodec

__all__ = ["format_frame", "decode_log", "monitor", "add_parser"]


def _fmt_value(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.6g}"
    return str(v)


def format_frame(msg: can.Message, decoded: DecodedFrame | None) -> str:
    """One text line: timestamp, name (or raw id), signals, E2E status."""
    ts = f"{msg.timestamp:.6f}"
    if decoded is None:
        ident = f"0x{msg.arbitration_id:08X}" if msg.is_extended_id else f"0x{msg.arbitration_id:03X}"
        return f"{ts} {ident} [{msg.dlc}] {bytes(msg.data).hex(' ')}"
    sigs = " ".join(f"{k}={_fmt_value(v)}" for k, v in decoded.signals.items())
    e2e = "" if decoded.e2e.value == "NOT_PROTECTED" else f" e2e={decoded.e2e.value}"
    return f"{ts} {decoded.name} {sigs}{e2e}"


def _decode(codec: VehicleCodec, msg: can.Message) -> DecodedFrame | None:
    try:
        return codec.decode_frame(msg, decode_choices=True)
    except CodecError:
        return None  # e.g. a short frame: shown raw


def _wanted(messages: Iterable[str] | None, codec: VehicleCodec) -> set[str] | None:
    if messages is None:
        return None
    wanted = set(messages)
    for name in wanted:
        codec.info(name)  # unknown names raise UnknownMessageError naming them
    return wanted


def decode_log(
    path: str | Path,
    out: TextIO | None = None,
    messages: Iterable[str] | None = None,
    codec: VehicleCodec | None = None,
) -> int:
    """Print one decoded line per frame of a .log/.asc/.blf file; returns the number of lines printed.

    `messages` limits output to those message names (unknown ids are then skipped too).
    """
    out = out if out is not None else sys.stdout
    codec = codec or VehicleCodec()
    wanted = _wanted(messages, codec)
    lines = 0
    for msg in read_log(path):
        decoded = _decode(codec, msg)
        if wanted is not None and (decoded is None or decoded.name not in wanted):
            continue
        out.write(format_frame(msg, decoded) + "\n")
        lines += 1
    out.flush()
    return lines


def monitor(
    bus_spec: str,
    duration_s: float | None = None,
    out: TextIO | None = None,
    messages: Iterable[str] | None = None,
    codec: VehicleCodec | None = None,
    bus: can.BusABC | None = None,
) -> int:
    """Print one decoded line per received frame until `duration_s` elapses (or Ctrl-C).

    Returns the number of frames printed. `bus` overrides `bus_spec` (used by tests).
    """
    if duration_s is not None and duration_s < 0:
        raise ValueError(f"monitor duration_s {duration_s!r} invalid: must be >= 0 or None")
    out = out if out is not None else sys.stdout
    codec = codec or VehicleCodec()
    wanted = _wanted(messages, codec)
    own = bus is None
    bus = bus if bus is not None else open_bus(bus_spec)
    deadline = None if duration_s is None else time.monotonic() + duration_s
    shown = 0
    try:
        while True:
            timeout = 0.2
            if deadline is not None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                timeout = min(timeout, remaining)
            msg = bus.recv(timeout)
            if msg is None:
                continue
            decoded = _decode(codec, msg)
            if wanted is not None and (decoded is None or decoded.name not in wanted):
                continue
            out.write(format_frame(msg, decoded) + "\n")
            out.flush()
            shown += 1
    except KeyboardInterrupt:
        pass
    finally:
        if own:
            bus.shutdown()
    return shown


def _cmd_decode(args: argparse.Namespace) -> int:
    decode_log(args.file, messages=args.message or None)
    return 0


def _cmd_monitor(args: argparse.Namespace) -> int:
    monitor(args.bus, duration_s=args.duration, messages=args.message or None)
    return 0


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register `can decode FILE` and `can monitor BUS [--duration S]` on an argparse subparsers object."""
    can_p = subparsers.add_parser("can", help="decode CAN logs and monitor CAN buses with the vehicle DBC")
    can_sub = can_p.add_subparsers(dest="can_command", metavar="{decode,monitor}")
    can_sub.required = True

    dec = can_sub.add_parser("decode", help="print a .log/.asc/.blf file decoded with the vehicle DBC")
    dec.add_argument("file", help="CAN log file (.log candump, .asc, .blf)")
    dec.add_argument("-m", "--message", action="append", help="only show this message name (repeatable)")
    dec.set_defaults(func=_cmd_decode)

    mon = can_sub.add_parser("monitor", help="print live decoded traffic of a CAN bus")
    mon.add_argument("bus", help=f"bus spec: {BUS_SPEC_FORMS}")
    mon.add_argument("--duration", type=float, default=None, metavar="S", help="stop after S seconds")
    mon.add_argument("-m", "--message", action="append", help="only show this message name (repeatable)")
    mon.set_defaults(func=_cmd_monitor)
    return can_p
