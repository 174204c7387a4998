"""AUTOSAR E2E Profile 5 / Profile 1: published vectors and receiver fault detection."""

import pytest

from canbus.e2e import (
    E2EConfig,
    E2EError,
    E2EMonitor,
    E2EReceiver,
    E2EStatus,
    crc8_sae_j1850,
    crc16_ccitt_false,
    p1_check,
    p1_protect,
    p5_check,
    p5_protect,
)


def test_crc16_ccitt_false_check_value():
    # Catalogue check value of CRC-16/CCITT-FALSE.
    assert crc16_ccitt_false(b"123456789") == 0x29B1


def test_crc8_sae_j1850_plain_vectors():
    assert crc8_sae_j1850(bytes(4)) == 0x59
    assert crc8_sae_j1850(b"123456789") == 0x4B  # catalogue check value CRC-8/SAE-J1850


def test_crc16_is_chainable():
    assert crc16_ccitt_false(b"6789", crc16_ccitt_false(b"12345")) == crc16_ccitt_false(b"123456789")


def test_p5_published_vector():
    # 8-byte frame: the CRC covers the 6 bytes from offset 2 on, then the Data ID.
    first = p5_protect(bytes(8), 0x1234, 0)
    assert first == bytes.fromhex("1cca000000000000")
    second = p5_protect(bytes(8), 0x1234, 1)
    assert second[:3] == bytes.fromhex("cf8d01")
    assert p5_check(first, 0x1234) and p5_check(second, 0x1234)


def test_p5_wrong_data_id_fails_check():
    frame = p5_protect(bytes(8), 0x1234, 0)
    assert not p5_check(frame, 0x1235)


def test_p1_published_vector():
    first = p1_protect(bytes(8), 0x123, 0)
    assert first == bytes.fromhex("cc00000000000000")
    second = p1_protect(bytes(8), 0x123, 1)
    assert second[:2] == bytes.fromhex("9101")
    assert p1_check(first, 0x123) and p1_check(second, 0x123)


def test_p1_keeps_high_nibble_and_rejects_counter_15():
    frame = p1_protect(bytes([0, 0xA0, 1, 2]), 0x123, 14)
    assert frame[1] == 0xAE
    assert p1_check(frame, 0x123)
    bad = bytearray(frame)
    bad[1] = 0xAF
    bad[0] = 0  # whatever the CRC, counter 15 is invalid
    assert not p1_check(bytes(bad), 0x123)
    with pytest.raises(E2EError, match=r"counter 15 out of range: allowed \[0, 14\]"):
        p1_protect(bytes(8), 0x123, 15)


@pytest.mark.parametrize("counter", [-1, 256])
def test_p5_counter_range_error(counter):
    with pytest.raises(E2EError, match=rf"counter {counter} out of range: allowed \[0, 255\]"):
        p5_protect(bytes(8), 0x1234, counter)


def test_data_id_range_error():
    with pytest.raises(E2EError, match=r"Data ID 65536 out of range: allowed \[0, 65535\]"):
        p5_protect(bytes(8), 0x10000, 0)


def _rx(**kw):
    cfg = dict(data_id=0x1234, profile=5, length=8, cycle_time_s=0.01, timeout_cycles=3)
    cfg.update(kw)
    return E2EReceiver(E2EConfig(**cfg), name="TEST")


def _p5(counter, payload=b"\x11\x22\x33\x44\x55"):
    return p5_protect(bytes(3) + payload, 0x1234, counter)


def test_receiver_accepts_sequence_and_counter_wrap():
    rx = _rx()
    statuses = [rx.check(_p5(c % 256), now=i * 0.01) for i, c in enumerate(range(250, 262))]
    assert statuses == [E2EStatus.OK] * 12
    assert rx.rejected == 0


def test_receiver_flipped_bit_is_wrong_crc():
    rx = _rx()
    assert rx.check(_p5(0), 0.0) is E2EStatus.OK
    for byte in range(8):
        for bit in range(8):
            frame = bytearray(_p5(1))
            frame[byte] ^= 1 << bit
            assert rx.check(bytes(frame), 0.01) is E2EStatus.WRONG_CRC, (byte, bit)
    assert rx.counts[E2EStatus.WRONG_CRC] == 64
    # Corrupted frames did not move the reference counter: the real frame 1 is still in sequence.
    assert rx.check(_p5(1), 0.01) is E2EStatus.OK


def test_receiver_repeated_counter():
    rx = _rx()
    rx.check(_p5(7), 0.0)
    assert rx.check(_p5(7), 0.01) is E2EStatus.REPEATED
    assert rx.rejected == 1


def test_receiver_skipped_counter_is_wrong_sequence_then_resyncs():
    rx = _rx()
    rx.check(_p5(1), 0.0)
    assert rx.check(_p5(3), 0.01) is E2EStatus.WRONG_SEQUENCE
    assert rx.check(_p5(4), 0.02) is E2EStatus.OK
    assert rx.counts[E2EStatus.WRONG_SEQUENCE] == 1


def test_receiver_max_delta_allows_some_lost():
    rx = _rx(max_delta_counter=3)
    rx.check(_p5(1), 0.0)
    assert rx.check(_p5(4), 0.01) is E2EStatus.OK_SOME_LOST
    assert rx.check(_p5(8), 0.02) is E2EStatus.WRONG_SEQUENCE


def test_receiver_timeout_on_stale_frames():
    rx = _rx()  # 10 ms cycle, 3 cycles -> 30 ms
    assert rx.poll(0.0) is E2EStatus.NO_DATA
    rx.check(_p5(0), 1.0)
    assert rx.poll(1.03) is E2EStatus.OK
    assert rx.poll(1.031) is E2EStatus.TIMEOUT
    assert rx.poll(1.5) is E2EStatus.TIMEOUT
    assert rx.counts[E2EStatus.TIMEOUT] == 1  # counted once per entry into timeout
    # After a timeout any valid counter resynchronises.
    assert rx.check(_p5(99), 1.6) is E2EStatus.OK
    assert rx.poll(1.61) is E2EStatus.OK


def test_receiver_event_driven_never_times_out():
    rx = _rx(cycle_time_s=None)
    rx.check(_p5(0), 0.0)
    assert rx.poll(1e6) is E2EStatus.OK


def test_receiver_wrong_length():
    rx = _rx()
    assert rx.check(_p5(0)[:7], 0.0) is E2EStatus.WRONG_LENGTH


def test_receiver_profile1():
    rx = E2EReceiver(E2EConfig(data_id=0x123, profile=1, length=8, cycle_time_s=0.1))
    frames = [p1_protect(bytes(8), 0x123, c % 15) for c in range(20)]
    assert [rx.check(f, i * 0.1) for i, f in enumerate(frames)] == [E2EStatus.OK] * 20
    assert rx.check(frames[-1], 2.0) is E2EStatus.REPEATED


def test_monitor_counts_per_message_and_names_unknown():
    mon = E2EMonitor()
    mon.add("A", E2EConfig(data_id=1, cycle_time_s=0.01))
    mon.add("B", E2EConfig(data_id=2, cycle_time_s=0.1))
    a0 = p5_protect(bytes(8), 1, 0)
    mon.check("A", a0, 0.0)
    mon.check("A", a0, 0.01)
    mon.check("B", p5_protect(bytes(8), 1, 0), 0.0)  # wrong Data ID
    assert mon.rejections() == {"A": 1, "B": 1}
    assert mon.stats()["A"] == {"OK": 1, "REPEATED": 1}
    assert mon.poll(0.02) == {"A": E2EStatus.REPEATED, "B": E2EStatus.NO_DATA}
    with pytest.raises(KeyError, match="'C'.*A, B"):
        mon.check("C", a0, 0.0)


@pytest.mark.parametrize(
    "kw, text",
    [
        (dict(profile=2), "profile 2 not supported"),
        (dict(max_delta_counter=0), r"max_delta_counter 0 out of range: allowed \[1, 255\]"),
        (dict(cycle_time_s=-1.0), "cycle_time_s -1.0 invalid"),
    ],
)
def test_config_errors_name_the_field(kw, text):
    with pytest.raises(E2EError, match=text):
        E2EConfig(data_id=1, **kw)
