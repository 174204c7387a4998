"""Vehicle DBC content and VehicleCodec encode/decode/E2E behaviour."""

import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from canbus.codec import (
    DBC_PATH,
    MissingSignalError,
    SignalRangeError,
    UnknownMessageError,
    UnknownSignalError,
    VehicleCodec,
    load_dbc,
)
from canbus.e2e import E2EStatus, p5_check

DB = load_dbc()
CODEC = VehicleCodec()
NODES = {n.name for n in DB.nodes}
MESSAGES = [m.name for m in DB.messages]


def test_dbc_loads_strict_with_expected_nodes():
    db = load_dbc(DBC_PATH, strict=True)
    assert {"VEHICLE", "ADAS", "BODY", "CLUSTER", "COCKPIT", "INFOTAINMENT"} <= {n.name for n in db.nodes}
    assert len(db.messages) >= 15


def test_every_message_is_cyclic_or_declared_event_driven():
    for m in DB.messages:
        attrs = m.dbc.attributes
        send_type = attrs["GenMsgSendType"].value if "GenMsgSendType" in attrs else 0
        event = send_type == 1  # ENUM "Cyclic","Event"
        if event:
            assert not m.cycle_time, m.name
            assert CODEC.info(m.name).event_driven
        else:
            assert m.cycle_time and m.cycle_time > 0, m.name
            assert CODEC.info(m.name).cycle_time_s == m.cycle_time / 1000


def test_senders_receivers_and_signal_ranges_present():
    all_signals = []
    for m in DB.messages:
        assert m.senders and set(m.senders) <= NODES, m.name
        assert m.length == 8, m.name  # classic CAN
        for s in m.signals:
            assert s.receivers and set(s.receivers) <= NODES, (m.name, s.name)
            assert m.senders[0] not in s.receivers, (m.name, s.name)
            assert s.minimum is not None and s.maximum is not None, (m.name, s.name)
            assert s.minimum < s.maximum, (m.name, s.name)
            assert s.scale > 0
            all_signals.append(s.name)
    assert len(all_signals) == len(set(all_signals)), "signal names must be unique across the DBC"


def test_required_chassis_adas_and_body_content():
    sigs = {m.name: {s.name for s in m.signals} for m in DB.messages}
    flat = set().union(*sigs.values())
    for name in [
        "WHEEL_SPEED_FL", "WHEEL_SPEED_FR", "WHEEL_SPEED_RL", "WHEEL_SPEED_RR", "VEHICLE_SPEED",
        "STEERING_ANGLE", "STEERING_RATE", "DRIVER_TORQUE", "YAW_RATE", "LONG_ACCEL", "LAT_ACCEL",
        "GEAR", "ACCEL_PEDAL", "BRAKE_PEDAL", "BRAKE_PRESSED", "TURN_SIGNAL",
        "STEER_ANGLE_REQ", "ACCEL_REQ", "CONTROLS_ACTIVE", "AEB_REQUEST", "AEB_DECEL", "ACC_SET_SPEED",
        "LKA_STATE", "HVAC_CMD_DRIVER_TEMP", "HVAC_PASSENGER_TEMP", "WINDOW_CMD_RR", "WINDOW_POS_FL",
        "SEAT_HEAT_CMD_DRIVER", "LOCK_CMD", "DOORS_LOCKED", "TRUNK_CMD", "TRUNK_STATE", "VOLUME_CMD",
        "MEDIA_STATE", "OUTSIDE_TEMP", "FUEL_LEVEL", "ODOMETER",
    ]:
        assert name in flat, name
    ctl = DB.get_message_by_name("ADAS_CONTROL")
    assert (ctl.get_signal_by_name("STEER_ANGLE_REQ").minimum, ctl.get_signal_by_name("STEER_ANGLE_REQ").maximum) == (-540, 540)
    assert (ctl.get_signal_by_name("ACCEL_REQ").minimum, ctl.get_signal_by_name("ACCEL_REQ").maximum) == (-10, 4)
    temp = DB.get_message_by_name("HVAC_CMD").get_signal_by_name("HVAC_CMD_DRIVER_TEMP")
    assert (temp.minimum, temp.maximum, temp.scale) == (16, 30, 0.5)
    gear = DB.get_message_by_name("GEAR_TURN").get_signal_by_name("GEAR")
    assert {str(v) for v in gear.choices.values()} == {"P", "R", "N", "D"}


def test_e2e_layout_and_unique_data_ids():
    ids = []
    for m in DB.messages:
        info = CODEC.info(m.name)
        if m.senders[0] in ("VEHICLE", "ADAS"):
            assert info.protected, m.name
        if not info.protected:
            continue
        crc = m.get_signal_by_name(f"{m.name}_CRC")
        cnt = m.get_signal_by_name(f"{m.name}_COUNTER")
        assert (crc.start, crc.length, crc.byte_order) == (0, 16, "little_endian")
        assert (cnt.start, cnt.length) == (16, 8)
        assert all(s.start >= 24 for s in m.signals if s.name in info.signals), m.name
        ids.append(info.e2e.data_id)
    assert len(ids) == len(set(ids)) >= 8


def _strategy_for(message_name):
    m = DB.get_message_by_name(message_name)
    info = CODEC.info(message_name)
    fields = {}
    for s in m.signals:
        if s.name in info.signals:
            fields[s.name] = st.floats(min_value=float(s.minimum), max_value=float(s.maximum), allow_nan=False)
    return st.fixed_dictionaries(fields)


@pytest.mark.parametrize("name", MESSAGES)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_round_trip_every_message_within_one_step(name, data):
    values = data.draw(_strategy_for(name))
    codec = CODEC
    info = codec.info(name)
    msg = codec.encode(name, values)
    assert msg.arbitration_id == info.frame_id and len(msg.data) == 8
    if info.protected:
        assert p5_check(bytes(msg.data), info.e2e.data_id)
        codec.monitor.receivers[name].reset()
    decoded = codec.decode(msg.arbitration_id, msg.data, timestamp=0.0)
    assert decoded.name == name
    assert decoded.e2e is (E2EStatus.OK if info.protected else E2EStatus.NOT_PROTECTED)
    assert set(decoded.signals) == set(info.signals)
    message = DB.get_message_by_name(name)
    for sig, value in values.items():
        step = message.get_signal_by_name(sig).scale
        assert math.isclose(decoded.signals[sig], value, abs_tol=step / 2 + 1e-9), (sig, value, decoded.signals[sig])


def test_counters_advance_and_decode_sequence_ok():
    tx, rx = VehicleCodec(), VehicleCodec()
    sig = {"STEER_ANGLE_REQ": 1.5, "ACCEL_REQ": -1.0, "CONTROLS_ACTIVE": 1}
    statuses, counters = [], []
    for i in range(300):
        d = rx.decode_frame(tx.encode("ADAS_CONTROL", sig, timestamp=i * 0.01))
        statuses.append(d.e2e)
        counters.append(d.counter)
    assert set(statuses) == {E2EStatus.OK}
    assert counters[:3] == [0, 1, 2] and counters[256] == 0  # 8-bit wrap
    assert tx.next_counter("ADAS_CONTROL") == 300 % 256


def test_codec_detects_faults():
    tx, rx = VehicleCodec(), VehicleCodec()
    sig = {"AEB_REQUEST": 1, "AEB_DECEL": 6.5}
    f0 = tx.encode("ADAS_AEB", sig)
    assert rx.decode(f0.arbitration_id, f0.data, 0.0).e2e is E2EStatus.OK
    assert rx.decode(f0.arbitration_id, f0.data, 0.01).e2e is E2EStatus.REPEATED
    tx.encode("ADAS_AEB", sig)  # lost frame
    f2 = tx.encode("ADAS_AEB", sig)
    assert rx.decode(f2.arbitration_id, f2.data, 0.02).e2e is E2EStatus.WRONG_SEQUENCE
    f3 = tx.encode("ADAS_AEB", sig)
    bad = bytearray(f3.data)
    bad[4] ^= 0x08
    d = rx.decode(f3.arbitration_id, bytes(bad), 0.03)
    assert d.e2e is E2EStatus.WRONG_CRC and not d.valid
    assert rx.decode(f3.arbitration_id, f3.data, 0.03).e2e is E2EStatus.OK
    assert rx.poll(0.06)["ADAS_AEB"] is E2EStatus.OK
    assert rx.poll(0.061)["ADAS_AEB"] is E2EStatus.TIMEOUT  # 3 x 10 ms without a valid frame
    assert rx.monitor.rejections()["ADAS_AEB"] == 4  # REPEATED, WRONG_SEQUENCE, WRONG_CRC, TIMEOUT


def test_explicit_counter_and_max_delta():
    tx, rx = VehicleCodec(), VehicleCodec(max_delta_counter=2)
    sig = {"AEB_REQUEST": 0, "AEB_DECEL": 0}
    f = tx.encode("ADAS_AEB", sig, counter=10)
    assert rx.decode_frame(f).counter == 10
    assert tx.next_counter("ADAS_AEB") == 11
    f = tx.encode("ADAS_AEB", sig, counter=12)
    assert rx.decode_frame(f).e2e is E2EStatus.OK_SOME_LOST
    with pytest.raises(ValueError, match=r"ADAS_AEB counter 256 out of range: allowed \[0, 255\]"):
        tx.encode("ADAS_AEB", sig, counter=256)


def test_choice_names_encode_and_decode():
    codec = VehicleCodec(decode_choices=True)
    f = codec.encode("GEAR_TURN", {"GEAR": "D", "TURN_SIGNAL": "HAZARD"})
    d = codec.decode_frame(f)
    assert d.signals["GEAR"] == "D" and d.signals["TURN_SIGNAL"] == "HAZARD"
    assert VehicleCodec().decode_frame(f).signals == {"GEAR": 3, "TURN_SIGNAL": 3}
    with pytest.raises(SignalRangeError, match=r"GEAR_TURN\.GEAR = 'X' is out of range: allowed \[0, 3\] \(choices: .*P"):
        codec.encode("GEAR_TURN", {"GEAR": "X", "TURN_SIGNAL": 0})


@pytest.mark.parametrize(
    "name, signals, bad, value, lo, hi",
    [
        ("ADAS_CONTROL", {"STEER_ANGLE_REQ": 540.5, "ACCEL_REQ": 0, "CONTROLS_ACTIVE": 0}, "STEER_ANGLE_REQ", 540.5, "-540", "540"),
        ("ADAS_CONTROL", {"STEER_ANGLE_REQ": 0, "ACCEL_REQ": -10.01, "CONTROLS_ACTIVE": 0}, "ACCEL_REQ", -10.01, "-10", "4"),
        ("HVAC_CMD", dict(HVAC_CMD_DRIVER_TEMP=31, HVAC_CMD_PASSENGER_TEMP=20, HVAC_CMD_DRIVER_FAN=1,
                          HVAC_CMD_PASSENGER_FAN=1, HVAC_CMD_AC=1, HVAC_CMD_RECIRC=0, HVAC_CMD_DEFROST_FRONT=0,
                          HVAC_CMD_DEFROST_REAR=0, HVAC_CMD_REAR_TEMP=21), "HVAC_CMD_DRIVER_TEMP", 31, "16", "30"),
        ("WINDOW_STATE", dict(WINDOW_POS_FL=0, WINDOW_POS_FR=101, WINDOW_POS_RL=0, WINDOW_POS_RR=0), "WINDOW_POS_FR", 101, "0", "100"),
        ("ADAS_AEB", {"AEB_REQUEST": 1, "AEB_DECEL": float("nan")}, "AEB_DECEL", "nan", "0", "10"),
    ],
)
def test_range_errors_name_message_signal_value_and_range(name, signals, bad, value, lo, hi):
    with pytest.raises(SignalRangeError) as exc:
        CODEC.encode(name, signals)
    text = str(exc.value)
    assert f"{name}.{bad}" in text and str(value) in text and f"[{lo}, {hi}]" in text
    assert exc.value.signal == bad and exc.value.message_name == name


def test_unknown_message_signal_and_missing_signal_errors():
    with pytest.raises(UnknownMessageError, match="'NOPE'.*ADAS_CONTROL"):
        CODEC.encode("NOPE", {})
    with pytest.raises(UnknownSignalError, match="'SPEED' in message ADAS_AEB"):
        CODEC.encode("ADAS_AEB", {"AEB_REQUEST": 0, "AEB_DECEL": 0, "SPEED": 1})
    with pytest.raises(MissingSignalError, match="ADAS_AEB is missing signal.*AEB_DECEL"):
        CODEC.encode("ADAS_AEB", {"AEB_REQUEST": 0})
    with pytest.raises(UnknownSignalError, match="ADAS_AEB.ADAS_AEB_CRC is set by the E2E layer"):
        CODEC.encode("ADAS_AEB", {"AEB_REQUEST": 0, "AEB_DECEL": 0, "ADAS_AEB_CRC": 0})
    with pytest.raises(UnknownMessageError, match="0x7FF"):
        CODEC.decode(0x7FF, bytes(8))
    assert CODEC.decode_frame(__import__("can").Message(arbitration_id=0x7FF, data=bytes(8))) is None
