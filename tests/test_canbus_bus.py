"""Bus specs, virtual and udp_multicast transport, log round trips, recorder and CLI commands."""

import argparse
import io
import random
import subprocess
import sys
import time
import uuid
from pathlib import Path

import can
import pytest

from canbus.bus import BusRecorder, BusUnavailableError, open_bus, open_logger, parse_bus_spec, read_log
from canbus.cli import add_parser, decode_log, monitor
from canbus.codec import VehicleCodec

REPO = Path(__file__).resolve().parents[1]


def _frames(codec=None):
    codec = codec or VehicleCodec()
    return [
        codec.encode("WHEEL_SPEEDS", dict(WHEEL_SPEED_FL=50, WHEEL_SPEED_FR=50.25, WHEEL_SPEED_RL=49.5, WHEEL_SPEED_RR=50), timestamp=100.0),
        codec.encode("ADAS_CONTROL", dict(STEER_ANGLE_REQ=-12.5, ACCEL_REQ=1.25, CONTROLS_ACTIVE=1), timestamp=100.01),
        codec.encode("HVAC_STATE", dict(HVAC_DRIVER_TEMP=21.5, HVAC_PASSENGER_TEMP=22, HVAC_DRIVER_FAN=3,
                                        HVAC_PASSENGER_FAN=2, HVAC_AC=1, HVAC_RECIRC=0, HVAC_DEFROST_FRONT=0,
                                        HVAC_DEFROST_REAR=1, HVAC_REAR_TEMP=21), timestamp=100.02),
        codec.encode("WHEEL_SPEEDS", dict(WHEEL_SPEED_FL=51, WHEEL_SPEED_FR=51, WHEEL_SPEED_RL=51, WHEEL_SPEED_RR=51), timestamp=100.03),
        can.Message(arbitration_id=0x7AB, data=bytes([1, 2, 3]), is_extended_id=False, timestamp=100.04),
    ]


@pytest.mark.parametrize(
    "spec, expected",
    [
        ("virtual:sim", ("virtual", "sim")),
        ("udp_multicast:default", ("udp_multicast", "239.74.163.2")),
        ("udp_multicast:239.1.2.3", ("udp_multicast", "239.1.2.3")),
        ("udp_multicast:ff15:7079:7468:6f6e:6465:6d6f:6d63:6173", ("udp_multicast", "ff15:7079:7468:6f6e:6465:6d6f:6d63:6173")),
        ("socketcan:can0", ("socketcan", "can0")),
    ],
)
def test_parse_valid_specs(spec, expected):
    assert parse_bus_spec(spec) == expected


@pytest.mark.parametrize(
    "spec, why",
    [
        ("can0", "expected one of"),
        ("virtual:", "missing name"),
        ("pcan:1", "unknown kind 'pcan'"),
        ("udp_multicast:10.0.0.1", "not a multicast address"),
        ("udp_multicast:bus", "not an IP address"),
    ],
)
def test_bad_specs_name_spec_and_allowed_forms(spec, why):
    with pytest.raises(ValueError) as exc:
        open_bus(spec)
    text = str(exc.value)
    assert repr(spec) in text and why in text
    assert "virtual:NAME" in text and "udp_multicast:GROUP" in text and "socketcan:CHANNEL" in text


@pytest.mark.skipif(Path("/sys/class/net/edgepilot_nocan0").exists(), reason="interface unexpectedly present")
def test_socketcan_missing_interface_is_a_clear_error():
    with pytest.raises(BusUnavailableError, match="socketcan:edgepilot_nocan0"):
        open_bus("socketcan:edgepilot_nocan0")


def test_two_virtual_buses_exchange_frames_and_do_not_echo():
    name = f"virtual:test-{uuid.uuid4().hex}"
    a, b = open_bus(name), open_bus(name)
    try:
        frames = _frames()
        for f in frames:
            a.send(f)
        got = [b.recv(1.0) for _ in frames]
        assert [(m.arbitration_id, bytes(m.data)) for m in got] == [(f.arbitration_id, bytes(f.data)) for f in frames]
        assert a.recv(0.05) is None  # receive_own_messages=False
        b.send(frames[0])
        assert a.recv(1.0).arbitration_id == frames[0].arbitration_id
    finally:
        a.shutdown()
        b.shutdown()


SENDER = r"""
import sys, time
from canbus.bus import open_bus
from canbus.codec import VehicleCodec
spec, port = sys.argv[1], int(sys.argv[2])
codec = VehicleCodec()
bus = open_bus(spec, port=port)
try:
    for i in range(100):  # UDP gives no delivery guarantee: repeat until the receiver has seen enough
        bus.send(codec.encode("VEHICLE_DYNAMICS", dict(VEHICLE_SPEED=88.8, YAW_RATE=1.5, LONG_ACCEL=-0.5, LAT_ACCEL=0.3)))
        time.sleep(0.02)
finally:
    bus.shutdown()
"""


def test_udp_multicast_between_processes():
    group = f"239.{random.randint(100, 250)}.{random.randint(0, 255)}.{random.randint(1, 254)}"
    port = random.randint(40000, 60000)
    spec = f"udp_multicast:{group}"
    rx = open_bus(spec, port=port)
    codec = VehicleCodec()
    proc = subprocess.Popen([sys.executable, "-c", SENDER, spec, str(port)], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    decoded = []
    try:
        deadline = time.monotonic() + 20
        while len(decoded) < 5 and time.monotonic() < deadline:
            msg = rx.recv(0.5)
            if msg is not None and msg.arbitration_id == codec.frame_id("VEHICLE_DYNAMICS"):
                decoded.append(codec.decode_frame(msg))
    finally:
        rx.shutdown()
        proc.kill()
        _, err = proc.communicate(timeout=10)
    assert len(decoded) >= 5, err.decode()
    assert all(d.valid for d in decoded)  # CRC ok; counters may skip if UDP dropped frames
    assert decoded[0].signals["VEHICLE_SPEED"] == pytest.approx(88.8)
    assert not decoded[0].signals.keys() & {"VEHICLE_DYNAMICS_CRC", "VEHICLE_DYNAMICS_COUNTER"}


@pytest.mark.parametrize("suffix", [".log", ".asc", ".blf"])
def test_log_round_trip_loses_nothing(tmp_path, suffix):
    codec = VehicleCodec()
    frames = [f for _ in range(20) for f in _frames(codec)]  # fresh objects, advancing counters
    for i, f in enumerate(frames):
        f.timestamp = 100.0 + i * 0.001
    path = tmp_path / f"trace{suffix}"
    with open_logger(path) as writer:
        for f in frames:
            writer(f)
    back = list(read_log(path))
    assert len(back) == len(frames)
    t0 = back[0].timestamp
    for orig, got in zip(frames, back):
        assert got.arbitration_id == orig.arbitration_id
        assert bytes(got.data) == bytes(orig.data)
        assert got.is_extended_id == orig.is_extended_id
        assert (got.timestamp - t0) == pytest.approx(orig.timestamp - 100.0, abs=1e-5)


def test_log_suffix_errors(tmp_path):
    with pytest.raises(ValueError, match=r"suffix '\.txt', allowed \.log, \.asc, \.blf"):
        open_logger(tmp_path / "x.txt")
    with pytest.raises(FileNotFoundError, match="missing.log"):
        list(read_log(tmp_path / "missing.log"))


def test_bus_recorder_tees_received_frames(tmp_path):
    name = f"virtual:rec-{uuid.uuid4().hex}"
    tx, rx = open_bus(name), open_bus(name)
    path = tmp_path / "rec.log"
    frames = _frames()
    try:
        with BusRecorder(rx, path, log_sent=False) as rec:
            for f in frames:
                tx.send(f)
            got = [rec.recv(1.0) for _ in frames]
            assert all(g is not None for g in got)
            assert rec.recorded == len(frames)
    finally:
        tx.shutdown()
        rx.shutdown()
    logged = list(read_log(path))
    assert [(m.arbitration_id, bytes(m.data)) for m in logged] == [(f.arbitration_id, bytes(f.data)) for f in frames]


def test_decode_log_prints_names_signals_e2e_and_raw_unknown(tmp_path):
    path = tmp_path / "drive.log"
    with open_logger(path) as writer:
        for f in _frames():
            writer(f)
    out = io.StringIO()
    n = decode_log(path, out=out)
    lines = out.getvalue().splitlines()
    assert n == len(lines) == 5
    assert "WHEEL_SPEEDS" in lines[0] and "WHEEL_SPEED_FR=50.25" in lines[0] and "e2e=OK" in lines[0]
    assert "ADAS_CONTROL" in lines[1] and "STEER_ANGLE_REQ=-12.5" in lines[1]
    assert "HVAC_STATE" in lines[2] and "HVAC_AC=ON" in lines[2] and "e2e=" not in lines[2]
    assert "e2e=OK" in lines[3]  # counter continued 0 -> 1
    assert "0x7AB" in lines[4] and "01 02 03" in lines[4]
    out = io.StringIO()
    assert decode_log(path, out=out, messages=["WHEEL_SPEEDS"]) == 2
    assert all("WHEEL_SPEEDS" in l for l in out.getvalue().splitlines())


def test_monitor_prints_frames_and_stops_after_duration():
    spec = f"virtual:mon-{uuid.uuid4().hex}"
    rx, tx = open_bus(spec), open_bus(spec)
    try:
        for f in _frames()[:3]:
            tx.send(f)
        out = io.StringIO()
        shown = monitor(spec, duration_s=0.3, out=out, bus=rx)
    finally:
        tx.shutdown()
        rx.shutdown()
    text = out.getvalue()
    assert shown == 3
    assert "WHEEL_SPEEDS" in text and "ADAS_CONTROL" in text and "HVAC_STATE" in text


def test_add_parser_registers_can_commands():
    parser = argparse.ArgumentParser(prog="edgepilot")
    sub = parser.add_subparsers(dest="command")
    add_parser(sub)
    args = parser.parse_args(["can", "decode", "drive.log"])
    assert args.file == "drive.log" and callable(args.func)
    args = parser.parse_args(["can", "monitor", "virtual:x", "--duration", "2.5"])
    assert args.bus == "virtual:x" and args.duration == 2.5 and callable(args.func)
    assert args.func is not parser.parse_args(["can", "decode", "f.log"]).func


def test_cli_decode_handler_runs(tmp_path, capsys):
    path = tmp_path / "d.asc"
    with open_logger(path) as writer:
        for f in _frames():
            writer(f)
    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers())
    args = parser.parse_args(["can", "decode", str(path), "-m", "ADAS_CONTROL"])
    assert args.func(args) == 0
    assert capsys.readouterr().out.count("ADAS_CONTROL") == 1


def test_udp_multicast_port_suffix_parses_and_rejects_bad_ports():
    from canbus.bus import _udp_port

    assert parse_bus_spec("udp_multicast:default@43200") == ("udp_multicast", "239.74.163.2")
    assert _udp_port("udp_multicast:239.74.163.9@43200") == 43200
    with pytest.raises(ValueError, match="port 'x'"):
        _udp_port("udp_multicast:default@x")
    with pytest.raises(ValueError, match="port '70000'"):
        open_bus("udp_multicast:default@70000")
