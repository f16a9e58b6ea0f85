"""B. Braun BCC: every bit, unit code, range and limit the codec knows, pinned against its sources.

Sources (docs/protocols/bbraun-bcc.md, "Sources" and "Parameters used"):

* mindleaving/patient-monitor-datalogger (MIT), ``PatientMonitorDataLogger/BBraun/Models/``:
  ``PumpAlarm1.cs``, ``PumpAlarm2.cs``, ``PumpStatus.cs``, ``PreAlarmReason.cs`` (the bit numbers)
  and ``BBraunUnitMap.cs`` (the unit codes);
* B. Braun *Technical Interface Specification BCC* I0022_000030 v4.0 ("TIS") as read in
  reference/protocols.md §9: 3.2.3 (control characters), 3.2.4 (bedId), 3.2.5.3 (addresses,
  ``_NV``), 3.4.2 (ranges, text lengths, DSSTATUS).

Every expected value below is a literal written from those documents — nothing is computed from
the codec's constants. Each table is checked both ways: every documented entry decodes to its
meaning through the real value parser (``decode_content``), and every entry the codec knows is
in the documented table.
"""

from __future__ import annotations

from enum import IntFlag

import pytest

from drivers.codecs.base import FrameRejected
from drivers.codecs.bbraun_bcc import (
    BITFIELDS,
    CONCENTRATION_UNITS,
    RANGES,
    TEXT_LIMITS,
    BbraunBccCodec,
    BccAlarm1,
    BccAlarm2,
    BccBlock,
    BccContent,
    BccPreAlarm,
    BccPumpStatus,
    BccRecord,
    BccResponse,
    BccStatus1,
    CorruptBlock,
    channel_of,
    decode_block,
    decode_content,
    encode_block,
)
from drivers.errors import DriverUsageError, ProtocolError

PUMP = "50111"

# --- PumpAlarm1.cs: bit -> (mindleaving's name, the codec's member) ----------------------------
ALARM1_DOC: dict[int, tuple[str, str | None]] = {
    0: ("NoAlarm", "NO_ALARM"),
    1: ("CalibrationDataCorrupt", "CALIBRATION_DATA_CORRUPT"),
    2: ("BatteryAlarm", "BATTERY_ALARM"),
    3: ("TherapyDataCorrupt", "THERAPY_DATA_CORRUPT"),
    4: ("TherapyDataAndPumpSettingsCorrupt", "SETTINGS_CORRUPT"),
    5: ("BatteryVoltageTooLow", "BATTERY_VOLTAGE_LOW"),
    6: ("BatteryNotInPump", "BATTERY_NOT_IN_PUMP"),
    7: ("BatteryFlatAtPowerOn", "BATTERY_FLAT_AT_POWER_ON"),
    8: ("BatteryCoverOpen", "BATTERY_COVER_OPEN"),
    9: ("SyringeEmpty", "SYRINGE_EMPTY"),
    10: ("PressureTooHigh", "PRESSURE_TOO_HIGH"),
    11: ("PressureTooHighDriveBlocked", "PRESSURE_TOO_HIGH_DRIVE_BLOCKED"),
    12: ("StandbyTimeExpired", "STANDBY_TIME_EXPIRED"),
    13: ("VolumeInfused", "VOLUME_INFUSED"),
    14: ("InfusionTimeExpired", "INFUSION_TIME_EXPIRED"),
    15: ("ClawMalfunction", "CLAW_MALFUNCTION"),
    16: ("PressureSensorDefect", "PRESSURE_SENSOR_DEFECT"),
    17: ("SyringeHolderOpen", "SYRINGE_HOLDER_OPEN"),
    18: ("SyrringeIncorrectlyInserted", "SYRINGE_INCORRECTLY_INSERTED"),
    19: ("KvoEnd", "KVO_END"),
    20: ("PressureAlarmUpstreamSensor", "PRESSURE_UPSTREAM"),
    21: ("Dummy", None),  # a reserved bit: the codec gives it no name
    22: ("DropAlarmSummary", "DROP_ALARM"),
    23: ("DropAlarmNoDrops", "NO_DROPS"),
    24: ("DropAlarmTooFewDrops", "TOO_FEW_DROPS"),
    25: ("DropAlarmTooManyDrops", "TOO_MANY_DROPS"),
    26: ("DropAlarmFreeFlow", "FREE_FLOW"),
    27: ("DropAlarmDropSensorRequired", "DROP_SENSOR_REQUIRED"),
    28: ("AirAlarmSummary", "AIR_ALARM"),
    29: ("AirAlarmBubbleTooLarge", "AIR_BUBBLE_TOO_LARGE"),
    30: ("AirAlarmAirRateExceeded", "AIR_RATE_EXCEEDED"),
    31: ("AirAlarmSensorFault", "AIR_SENSOR_FAULT"),
}
# --- PumpAlarm2.cs ------------------------------------------------------------------------------
ALARM2_DOC: dict[int, tuple[str, str | None]] = {
    0: ("Dummy", None),
    1: ("UnauthorizedManipulation", "UNAUTHORIZED_MANIPULATION"),
    2: ("TimeLimitReached", "TIME_LIMIT_REACHED"),
    3: ("SgcEndAlarm", "SGC_END_ALARM"),
    4: ("TakeOverModeSyringeEnd", "TAKE_OVER_SYRINGE_END"),
    5: ("TakeOverFailed", "TAKE_OVER_FAILED"),
    6: ("TakeOverModeSlave", None),  # a mode, not an alarm: not named by the codec
    7: ("DangerOfFreeFlow", "DANGER_OF_FREE_FLOW"),
    29: ("InfusomatOcclusionTestError", "OCCLUSION_TEST_ERROR"),
    30: ("InfusomatDoorOpenedDuringInfusion", "DOOR_OPENED_DURING_INFUSION"),
    31: ("PerfusorSyringeNotInsertedSecurely", "SYRINGE_NOT_INSERTED_SECURELY"),
}
# --- PumpStatus.cs (the codec names the bits the state machine reads) --------------------------
STATUS1_DOC: dict[int, tuple[str, str | None]] = {
    0: ("PumpSwitchedOn", "SWITCHED_ON"),
    1: ("MainsPowerOperation", "MAINS_POWER"),
    2: ("StandbyActive", "STANDBY"),
    3: ("StartupMenuActive", None),
    4: ("PrimeActive", None),
    5: ("DriveInParkPosition", None),
    6: ("PumpReadyToStart", "READY_TO_START"),
    7: ("PumpInfusing", "INFUSING"),
    8: ("TherapyStarted", "THERAPY_STARTED"),
    9: ("ReadyToStartBolus", None),
    10: ("ManualBolusActive", None),
    11: ("VolumeBolusIsActive", None),
    12: ("KvoFunctionReleased", None),
    13: ("KvoActive", "KVO_ACTIVE"),
    14: ("DataLockActive", None),
    15: ("PumpInDoseMode", None),
    16: ("DoseBolusWithBodyWeight", None),
    17: ("PatientStoredInPump", None),
    19: ("AlarmSilenced", None),
    20: ("PreAlarmSilenced", None),
    21: ("SpaceControlConnected", None),
    22: ("AirSensorSwitchedOff", None),
    23: ("PrimaryActive", None),
    24: ("ParameterEditorActive", None),
}
# --- PreAlarmReason.cs --------------------------------------------------------------------------
PREALARM_DOC: dict[int, tuple[str, str | None]] = {
    1: ("SyringeEmpty", "SYRINGE_EMPTY"),
    2: ("VolumeAlmostDelivered", "VOLUME_ALMOST_DELIVERED"),
    3: ("TimeNearEnd", "TIME_NEAR_END"),
    4: ("BatteryAlmostFlat", "BATTERY_ALMOST_FLAT"),
    5: ("KvoOperation", "KVO_OPERATION"),
    6: ("UnauthorizedManipulation", None),
    7: ("IncompatibleCanBusDevice", None),
    8: ("PiggybackSecondaryVolumeInfused", None),
    9: ("SgcPreAlarm", None),
    10: ("IdpgOcclusion", None),
    11: ("IdpgPressureLeapHigh", None),
    12: ("IdpgPressureLeapLow", None),
    13: ("SyringePreAlarmInTomMaster", None),
    14: ("SlaveFailureInTomMaster", None),
    15: ("BatteryDefective", None),
}

BITFIELD_TABLES = [
    ("ALARM1", BccAlarm1, ALARM1_DOC, "alarm1"),
    ("ALARM2", BccAlarm2, ALARM2_DOC, "alarm2"),
    ("STATUS1", BccStatus1, STATUS1_DOC, "status1"),
    ("PREALARM", BccPreAlarm, PREALARM_DOC, "prealarm"),
]


def pump(**values: str | None) -> BccPumpStatus:
    """One pump decoded from quadruples through the real content decoder."""
    records = [BccRecord(7, PUMP, name, value) for name, value in values.items()]
    (status,) = decode_content(records).pumps
    return status


def bitfield_cases() -> list[tuple[str, type[IntFlag], int, str | None, str]]:
    cases: list[tuple[str, type[IntFlag], int, str | None, str]] = []
    for parameter, flag, doc, attribute in BITFIELD_TABLES:
        for bit, (_name, member) in doc.items():
            cases.append((parameter, flag, bit, member, attribute))
    return cases


@pytest.mark.parametrize(("parameter", "flag", "bit", "member", "attribute"), bitfield_cases())
def test_every_documented_bit_decodes_to_its_meaning(
    parameter: str, flag: type[IntFlag], bit: int, member: str | None, attribute: str
) -> None:
    status = pump(**{parameter: str(1 << bit)})
    decoded = getattr(status, attribute)
    assert int(decoded) == 1 << bit and not status.problems
    if member is None:
        assert decoded.name is None  # a documented bit the codec deliberately leaves unnamed
    else:
        assert decoded == flag[member]
        assert decoded.name == member


@pytest.mark.parametrize(
    ("flag", "doc"), [(flag, doc) for _, flag, doc, _ in BITFIELD_TABLES], ids=lambda x: "t"
)
def test_every_bit_the_codec_names_is_documented(
    flag: type[IntFlag], doc: dict[int, tuple[str, str | None]]
) -> None:
    named = {(m.name, int(m)) for m in flag}
    documented = {(member, 1 << bit) for bit, (_, member) in doc.items() if member is not None}
    assert named == documented


def test_bitfields_combine_and_parse_as_unsigned_decimal() -> None:
    # docs/protocols/bbraun-bcc.md, ASSUMPTION: unsigned decimal integers, at most 32 bits.
    status = pump(ALARM1=str((1 << 9) | (1 << 29) | (1 << 31)), PREALARM="18", STATUS1="8320")
    assert status.alarm1 == (
        BccAlarm1.SYRINGE_EMPTY | BccAlarm1.AIR_BUBBLE_TOO_LARGE | BccAlarm1.AIR_SENSOR_FAULT
    )
    assert status.prealarm == BccPreAlarm.SYRINGE_EMPTY | BccPreAlarm.BATTERY_ALMOST_FLAT
    assert status.status1 == BccStatus1.INFUSING | BccStatus1.KVO_ACTIVE  # 128 + 8192
    top = pump(ALARM2="4294967295")  # 2**32 - 1: the largest 32-bit value is kept
    assert int(top.alarm2) == 0xFFFFFFFF and not top.problems
    for bad in ("4294967296", "-1", "0x10", "1.0", "", " 5", "12345678901"):
        status = pump(ALARM1=bad)
        assert status.alarm1 == 0 and len(status.problems) == 1, bad
    assert pump(STATUS1=None).status1 is None  # _NV: unknown, not "no bit set"
    assert pump(INRT="1").status1 is None and pump(STATUS1="0").status1 == BccStatus1(0)


def test_every_bitfield_parameter_is_parsed() -> None:
    # docs/protocols/bbraun-bcc.md: ALARM1, ALARM2, STATUS1, STATUS2 (parsed, not interpreted),
    # PREALARM.
    assert set(BITFIELDS) == {"ALARM1", "ALARM2", "STATUS1", "STATUS2", "PREALARM"}
    status = pump(STATUS2="abc")
    assert status.problems == ("STATUS2='abc': not an unsigned 32-bit integer",)


# --- BBraunUnitMap.cs: the concentration unit codes (INDCONU) ----------------------------------
# The document's spelling, and the codec's (mL for ml, µg for ug, IU for the German IE).
UNITS_DOC: dict[int, tuple[str, str]] = {
    30: ("ng/ml", "ng/mL"),
    31: ("mg/ml", "mg/mL"),
    32: ("ug/ml", "µg/mL"),
    33: ("g/ml", "g/mL"),
    34: ("mmol/ml", "mmol/mL"),
    35: ("mEq/ml", "mEq/mL"),
    36: ("IE/ml", "IU/mL"),
    118: ("mIU/ml", "mIU/mL"),
    131: ("kIU/ml", "kIU/mL"),
    138: ("MIU/ml", "MIU/mL"),
    150: ("kcal/ml", "kcal/mL"),
    154: ("ml/ml", "mL/mL"),
}
#: Other codes of the same map that are not concentrations (so never a concentration unit).
NOT_CONCENTRATIONS = {1: "ml/h", 2: "ml", 23: "ng", 24: "mg", 29: "IU", 37: "ng/kg", 117: "mIU"}


@pytest.mark.parametrize(("code", "unit"), [(c, u[1]) for c, u in UNITS_DOC.items()])
def test_every_documented_concentration_unit(code: int, unit: str) -> None:
    status = pump(INDCON="2.5", INDCONU=str(code))
    assert (status.concentration, status.concentration_unit) == (2.5, unit)


@pytest.mark.parametrize("code", sorted(NOT_CONCENTRATIONS))
def test_codes_that_are_not_concentrations_have_no_unit(code: int) -> None:
    assert pump(INDCON="2.5", INDCONU=str(code)).concentration_unit is None


def test_every_unit_the_codec_knows_is_documented() -> None:
    assert {code: unit for code, (_, unit) in UNITS_DOC.items()} == CONCENTRATION_UNITS


# --- TIS 3.4.2: ranges; a value outside is dropped with a problem -----------------------------
# (parameter, attribute, lowest, highest, just below, just above)
RANGES_DOC = [
    ("INRT", "rate_ml_h", "0.00", "1800.00", None, "1800.01"),
    ("INVI", "volume_infused_ml", "0.0", "9999.9", None, "10000.0"),
    ("INVTB", "vtbi_ml", "0.0", "9999.9", None, "9999.91"),
    ("INRMT", "time_remaining_s", "0", "65534", None, "65536"),
]


@pytest.mark.parametrize(("name", "attribute", "low", "high", "below", "above"), RANGES_DOC)
def test_range_edges(
    name: str, attribute: str, low: str, high: str, below: str | None, above: str
) -> None:
    for text in (low, high):
        status = pump(**{name: text})
        assert getattr(status, attribute) == float(text) and not status.problems
    status = pump(**{name: above})
    assert getattr(status, attribute) is None
    assert len(status.problems) == 1 and "outside" in status.problems[0]
    negative = pump(**{name: "-" + high})
    assert getattr(negative, attribute) is None and "not a number" in negative.problems[0]


def test_ranges_are_the_documented_ones() -> None:
    assert RANGES == {
        "INRT": (0.0, 1800.0),
        "INVI": (0.0, 9999.9),
        "INVTB": (0.0, 9999.9),
        "INRMT": (0.0, 65535.0),
        "INDCON": (0.0, 99999.0),  # Vigil's bound (the TIS gives none): 5 digits
    }


def test_inrmt_65535_means_no_end_time() -> None:
    # docs/protocols/bbraun-bcc.md, ASSUMPTION: pumps without a VTBI report 65535.
    status = pump(INRMT="65535")
    assert status.time_remaining_s is None and not status.problems
    assert pump(INRMT="65534").time_remaining_s == 65534.0


def test_concentration_edges() -> None:
    assert pump(INDCON="0").concentration is None  # 0: no concentration programmed
    assert pump(INDCON="99999").concentration == 99999.0
    high = pump(INDCON="99999.5")
    assert high.concentration is None and "outside" in high.problems[0]
    assert pump(INDCON="0.001").concentration == 0.001


def test_number_format() -> None:
    # up to 7 integer digits and 4 decimals, no sign, no exponent
    assert pump(INRT="0001.5000").rate_ml_h == 1.5
    for bad in ("1e3", "1.", ".5", "1,5", "+1", "1.00001", "12345678"):
        status = pump(INRT=bad)
        assert status.rate_ml_h is None and "not a number" in status.problems[0], bad


# --- TIS 3.4.2: text lengths ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "attribute", "limit"), [("INSOL", "drug", 25), ("INSOLSN", "drug_short", 8)]
)
def test_text_limits(name: str, attribute: str, limit: int) -> None:
    assert TEXT_LIMITS[name] == limit
    exact = "K" * limit
    assert getattr(pump(**{name: exact}), attribute) == exact
    assert getattr(pump(**{name: f"  {exact} "}), attribute) == exact  # padding is not counted
    too_long = pump(**{name: exact + "K"})
    assert getattr(too_long, attribute) is None and len(too_long.problems) == 1
    control = pump(**{name: "Keta\x7fmine"})
    assert getattr(control, attribute) is None and len(control.problems) == 1
    assert getattr(pump(**{name: "   "}), attribute) is None  # blank: no name, no problem
    assert not pump(**{name: "   "}).problems


def test_dsstatus_is_kept_as_a_number() -> None:
    # TIS 3.4.2: 00050 off, 00051 on.
    assert pump(DSSTATUS="00050").dsstatus == 50
    assert pump(DSSTATUS="00051").dsstatus == 51
    assert pump(DSSTATUS=None).dsstatus is None


# --- INMn / INAn status and alarm flags: "1", "0" or "_NV" ------------------------------------


@pytest.mark.parametrize(
    "name", ["INM1", "INM3", "INM6", "INM10", "INA2", "INA3", "INA7", "INA15", "INA16"]
)
def test_flags(name: str) -> None:
    assert pump(**{name: "1"}).active == frozenset({name})
    assert pump(**{name: "0"}).active == frozenset()
    assert pump(**{name: None}).active == frozenset()
    odd = pump(**{name: "2"})
    assert odd.active == frozenset() and odd.problems == (f"{name}='2': not 0 or 1",)


def test_only_inm_and_ina_names_are_flags() -> None:
    status = pump(INB1="1", INM="1", INM100="1", INA9X="1", XINA1="1", INM12="1")
    assert status.active == frozenset({"INM12"}) and not status.problems


# --- TIS 3.2.3, 3.2.4, 3.2.5.3: control characters, bedId, addresses, _NV ----------------------


def test_control_characters_of_a_block() -> None:
    block = encode_block("Bed7", "MEM:GET", final=False, stuffing=False)
    assert block[0] == 0x01 and block[6] == 0x02  # SOH, STX
    assert block[-7] == 0x17 and block[-1] == 0x04  # ETB (more blocks follow), EOT
    assert encode_block("Bed7", "MEM:GET", stuffing=False)[-7] == 0x03  # ETX: the last block
    record_separator = encode_block("Bed7", "1,50100,A,1\x1e2,50100,B,2", stuffing=False)
    assert decode_block(record_separator, stuffing=False).records == (
        BccRecord(1, "50100", "A", "1"),
        BccRecord(2, "50100", "B", "2"),
    )


@pytest.mark.parametrize(
    ("bed", "valid"),
    [
        ("/", True),  # ASCII 47
        ("9", True),  # 57
        ("A", True),  # 65
        ("z", True),  # 122
        ("x" * 15, True),
        ("x" * 16, False),
        (":", False),  # 58
        ("@", False),  # 64
        ("{", False),  # 123
        ("", False),
    ],
)
def test_bed_id_characters(bed: str, valid: bool) -> None:
    wire = f"\x01{20 + len(bed):05d}\x02{bed}/1/1>X\x03"
    wire += f"{(sum(wire.encode('latin-1')) % 256):05d}\x04"
    if valid:
        assert decode_block(wire.encode("latin-1"), stuffing=False).bed_id == bed
    else:
        with pytest.raises(ProtocolError, match=r"bed|length|short"):
            decode_block(wire.encode("latin-1"), stuffing=False)


SLOTS = "123456789ABCDEFGHIJKLMNO"  # TIS 3.2.5.3: slot 1-9 then A-O, counted from the bottom


@pytest.mark.parametrize("pillar", range(1, 10))
def test_every_slot_of_every_pillar(pillar: int) -> None:
    for number, char in enumerate(SLOTS, start=1):
        assert channel_of(f"501{pillar}{char}") == f"{pillar}{char}"
        assert channel_of(f"501{pillar}{number:02d}") == f"{pillar}{char}"  # BCC 3.30 form
    for outside in ("0", "P", "Z", "a", "25", "00", "99"):
        assert channel_of(f"501{pillar}{outside}") is None
    assert channel_of(f"501{pillar}") is None


def test_rack_address_and_no_value() -> None:
    content = decode_content(
        [
            BccRecord(1, "50100", "GNACK", "0"),
            BccRecord(1, "50100", "V3.30", None),
            BccRecord(1, PUMP, "INRT", None),  # _NV, as parse_records gives it
        ]
    )
    assert content.alive and content.version == "V3.30" and content.rack_error is None
    (status,) = content.pumps
    assert status.rate_ml_h is None and not status.problems
    block = encode_block("Bed7", "1,50111,INRT,_NV\x1e1,50111,INVI,0.4", stuffing=False)
    assert decode_block(block, stuffing=False).records == (
        BccRecord(1, PUMP, "INRT", None),
        BccRecord(1, PUMP, "INVI", "0.4"),
    )


# --- limits (docs/protocols/bbraun-bcc.md: 8 kB per unstuffed block, 80 blocks per response) ----


def unstuffed_block(length: int, *, final: bool = True) -> bytes:
    """A valid unstuffed block of exactly ``length`` bytes (TIS 3.2.3), built here."""
    message = "1,50111,INSOL,"
    message += "x" * (length - 23 - len(message))
    body = f"\x01{length:05d}\x02Bed7/1/1>{message}{chr(3) if final else chr(0x17)}"
    raw = body.encode("latin-1")
    return raw + f"{sum(raw) % 256:05d}\x04".encode()


def test_block_size_limits() -> None:
    assert len(encode_block("Bed7", "x" * (8192 - 23), stuffing=False)) == 8192
    with pytest.raises(DriverUsageError):
        encode_block("Bed7", "x" * (8192 - 22), stuffing=False)
    for length, accepted in ((16384, True), (16385, False)):
        codec = BbraunBccCodec(stuffing=False)
        codec.receive(unstuffed_block(length))
        events = list(codec.events())
        if accepted:
            assert [type(e) for e in events] == [BccBlock, BccResponse]
        else:
            assert [type(e) for e in events] == [CorruptBlock]
            assert isinstance(events[0], CorruptBlock) and "longer than 16384" in events[0].reason


def test_an_unterminated_block_is_dropped_past_the_limit() -> None:
    codec = BbraunBccCodec(stuffing=False)
    codec.receive(b"\x01" + b"9" * 16383)
    assert list(codec.events()) == []  # 16384 bytes may still become a block
    codec.receive(b"9")
    (event,) = list(codec.events())
    assert isinstance(event, FrameRejected) and "longer than 16384" in event.reason
    codec.receive(b"9" * 16384)
    assert list(codec.events()) == []  # outside a block, at most the limit is kept
    codec.receive(b"9")
    (junk,) = list(codec.events())
    assert isinstance(junk, FrameRejected) and junk.reason == "bytes outside a block"
    codec.receive(b"9" * 100)
    assert list(codec.events()) == []  # the rejected bytes are gone


def test_limits_count_from_the_end_of_the_last_block() -> None:
    codec = BbraunBccCodec(stuffing=False)
    codec.receive(GOOD + b"9" * 16360)
    assert [type(e) for e in codec.events()] == [BccBlock, BccResponse]
    codec = BbraunBccCodec(stuffing=False)
    codec.receive(GOOD + b"\x01" + b"9" * 16350)
    assert [type(e) for e in codec.events()] == [BccBlock, BccResponse]


@pytest.mark.parametrize(("blocks", "complete"), [(80, True), (81, False)])
def test_a_response_has_at_most_80_blocks(blocks: int, complete: bool) -> None:
    codec = BbraunBccCodec(stuffing=False)
    for n in range(blocks):
        codec.receive(unstuffed_block(40, final=n == blocks - 1))
    events = list(codec.events())
    responses = [e for e in events if isinstance(e, BccResponse)]
    if complete:
        assert len(responses) == 1 and responses[0].blocks == 80
    else:
        assert responses == []
        assert any(isinstance(e, FrameRejected) and "more than 80" in e.reason for e in events)
        codec.receive(unstuffed_block(40))  # the next response starts afresh
        (_block, response) = list(codec.events())
        assert isinstance(response, BccResponse) and response.blocks == 1


def test_pillar_zero_is_the_rack_not_a_pump() -> None:
    for address in ("50101", "5010A", "501010", "50100"):
        assert channel_of(address) is None
    records = [BccRecord(1, "50101", "INRT", "1.0"), BccRecord(1, "50111", "INRT", "2.0")]
    block = encode_block(
        "Bed7", "\x1e".join(f"1,{r.address},INRT,1.0" for r in records), stuffing=False
    )
    decoded = decode_block(block, stuffing=False)
    assert [r.address for r in decoded.records] == ["50111"] and len(decoded.problems) == 1


# --- TIS 3.2.3: every structural check of a block, each with its own reason -----------------------


def raw_block(body: str, *, check: str | None = None, length: str | None = None) -> bytes:
    """SOH LLLLL STX body ETX CCCCC EOT with a correct (or the given) length and check."""
    head = f"\x01{length or f'{len(body) + 14:05d}'}\x02{body}\x03".encode("latin-1")
    return head + (check or f"{sum(head) % 256:05d}").encode() + b"\x04"


GOOD = raw_block("Bed7/1/1>1,50100,GNACK,0")


@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        (b"", "block does not run from SOH to EOT"),
        (b"\x04", "block does not run from SOH to EOT"),
        (b"x" + GOOD[1:], "block does not run from SOH to EOT"),
        (GOOD[:-1] + b"x", "block does not run from SOH to EOT"),
        (b"\x01\x04", "block of 2 bytes is too short"),
        (raw_block("1/1/1>"), "block of 20 bytes is too short"),
        (raw_block("Bed7/1/1>X", length="0002x"), "length field is not 5 digits"),
        (
            raw_block("Bed7/1/1>X", length="00025"),
            "length field says 25, block has 24 (character stuffing on at the device?)",
        ),
        (GOOD[:6] + b"\x03" + GOOD[7:], "no STX after the length field"),
        (GOOD[:-7] + b"\x02" + GOOD[-6:], "no ETX/ETB before the checksum"),
        (GOOD[:-6] + b"0012x\x04", "checksum field is not 5 digits"),
        (raw_block("Bed7/1/1>1,50100,GNACK,0", check="10128"), "checksum 10128 != computed 128"),
        (raw_block("Bed7/1/1-1,50100,GNACK,0"), "no '>' after the bedId"),
        (raw_block(">1,50100,GNACK,0"), "bad bed address ''"),
        (raw_block("Bed7/1/2>1,50100,GNACK,0"), "bad bed address 'Bed7/1/2'"),
        (raw_block("Bed7/1/1>1,50100,\x07,0"), "control character inside the message"),
    ],
)
def test_every_structural_check(frame: bytes, reason: str) -> None:
    with pytest.raises(ProtocolError) as raised:
        decode_block(frame, stuffing=False)
    assert str(raised.value) == reason


def test_length_hint_only_on_an_unstuffed_line() -> None:
    stuffed = raw_block("Bx7/1/1>X", length="00024")  # no D/E/d/e: a valid stuffed line too
    with pytest.raises(ProtocolError) as raised:
        decode_block(stuffed)  # stuffing is the default
    assert str(raised.value) == "length field says 24, block has 23"
    with pytest.raises(ProtocolError) as raised:
        decode_block(stuffed, stuffing=False)
    assert str(raised.value) == (
        "length field says 24, block has 23 (character stuffing on at the device?)"
    )
    assert decode_block(encode_block("ComSystem", "1,50100,GNACK,0")).bed_id == "ComSystem"


def test_a_block_of_five_digit_length_and_the_first_check_digit() -> None:
    long = raw_block("Bed7/1/1>1,50111,INSOL," + "x" * 10_000)
    assert len(long) > 10_000 and decode_block(long, stuffing=False).records[0].parameter == "INSOL"
    assert decode_block(GOOD, stuffing=False).records == (BccRecord(1, "50100", "GNACK", "0"),)


def test_record_fields() -> None:
    block = encode_block(
        "Bed7", "1,50111,INSOL,Propofol, 1%\x1e1,50111\x1e2,50111,INSOLSN", stuffing=False
    )
    decoded = decode_block(block, stuffing=False)
    assert decoded.records == (
        BccRecord(1, "50111", "INSOL", "Propofol, 1%"),  # a value may hold commas
        BccRecord(2, "50111", "INSOLSN", None),  # three fields: no value
    )
    assert decoded.problems == ("record '1,50111' has fewer than 3 fields",)


def test_garbage_waits_for_the_next_soh_even_with_an_eot_in_it() -> None:
    codec = BbraunBccCodec(stuffing=False)
    codec.receive(b"junk\x04more")
    assert list(codec.events()) == []  # not a block: nothing to NAK
    codec.receive(GOOD)
    events = list(codec.events())
    assert [type(e) for e in events] == [FrameRejected, BccBlock, BccResponse]
    assert isinstance(events[0], FrameRejected) and events[0].data == b"junk\x04more"


def test_the_shortest_soh_eot_pair_is_a_corrupt_block() -> None:
    codec = BbraunBccCodec(stuffing=False)
    codec.receive(b"\x01\x04" + GOOD)
    assert [type(e) for e in codec.events()] == [CorruptBlock, BccBlock, BccResponse]


@pytest.mark.parametrize(
    ("data", "kinds"),
    [
        (b"\x01" + GOOD, [FrameRejected, BccBlock, BccResponse]),  # SOH right after SOH
        (b"\x01a\x01b" + GOOD, [FrameRejected, FrameRejected, BccBlock, BccResponse]),
        (b"\x01partial\x01", [FrameRejected]),  # reported at once, not when an EOT comes
    ],
)
def test_blocks_cut_short_by_a_new_soh(data: bytes, kinds: list[type]) -> None:
    codec = BbraunBccCodec(stuffing=False)
    codec.receive(data)
    events = list(codec.events())
    assert [type(e) for e in events] == kinds
    assert all(
        e.reason == "block cut short by a new SOH" for e in events if isinstance(e, FrameRejected)
    )


def test_consecutive_responses_do_not_share_blocks() -> None:
    other = raw_block("Bed7/1/1>2,50100,V3.30")
    codec = BbraunBccCodec(stuffing=False)
    codec.receive(GOOD + other)
    responses = [e for e in codec.events() if isinstance(e, BccResponse)]
    assert [(r.blocks, r.records) for r in responses] == [
        (1, (BccRecord(1, "50100", "GNACK", "0"),)),
        (1, (BccRecord(2, "50100", "V3.30", None),)),
    ]


def test_blocks_from_another_bed_restart_the_response() -> None:
    first = raw_block("Bed7/1/1>1,50111,INRT,1.0").replace(b"\x03", b"\x17")
    first = first[:-6] + f"{sum(first[:-6]) % 256:05d}".encode() + b"\x04"
    other_bed = raw_block("Bed8/1/1>2,50111,INRT,2.0")
    codec = BbraunBccCodec(stuffing=False)
    codec.receive(first + other_bed)
    events = list(codec.events())
    assert [type(e) for e in events] == [BccBlock, BccBlock, FrameRejected, BccResponse]
    response = events[-1]
    assert isinstance(response, BccResponse) and response.bed_id == "Bed8"
    assert response.blocks == 1 and [r.value for r in response.records] == ["2.0"]


def test_a_pump_status_without_bitfields_has_no_alarm_bits() -> None:
    status = BccPumpStatus("50111", "11")
    assert (int(status.alarm1), int(status.alarm2), int(status.prealarm)) == (0, 0, 0)
    assert status.status1 is None and status.active == frozenset() and status.problems == ()
    assert (status.rate_ml_h, status.drug, status.dsstatus) == (None, None, None)


# --- encoders, content decoding details ---------------------------------------------------------


def test_encoder_refusals_and_stuffing_defaults() -> None:
    from drivers.codecs.bbraun_bcc import encode_mem_get, encode_mem_getslot, encode_version

    for bad in ("MEM:GÉT", "MEM\x07GET", "MEM\x1fGET"):
        with pytest.raises(DriverUsageError):
            encode_block("Bed7", bad)
    assert b"\x1e" in encode_block("Bed7", "a\x1eb ", stuffing=False)  # RS and space are fine
    assert b"ComSysteem" in encode_version("ComSystem")  # stuffed unless told otherwise
    assert b"MEEM:GEET" in encode_mem_get("ComSystem")
    assert b"MEEM:GEETSLOT#9O" in encode_mem_getslot("ComSystem", 9, 24)
    assert b"MEM:GETSLOT#11" in encode_mem_getslot("Bed7", 1, 1, stuffing=False)
    for pillar, slot in ((0, 1), (10, 1), (1, 0), (1, 25)):
        with pytest.raises(DriverUsageError):
            encode_mem_getslot("Bed7", pillar, slot)


def test_codec_stuffing_is_on_by_default() -> None:
    codec = BbraunBccCodec()
    codec.receive(encode_block("ComSystem", "1,50100,GNACK,0"))
    assert [type(e) for e in codec.events()] == [BccBlock, BccResponse]


def test_record_checks() -> None:
    empty = decode_block(raw_block("Bx7/1/1>"), stuffing=False)
    assert (empty.records, empty.problems) == ((), ())
    block = raw_block("Bx7/1/1>x,50111,INRT,1\x1e1,50111,IN RT,1\x1e1,50111,INRT,1")
    decoded = decode_block(block, stuffing=False)
    assert decoded.records == (BccRecord(1, "50111", "INRT", "1"),)
    assert decoded.problems == (
        "record 'x,50111,INRT,1': time is not a number",
        "record '1,50111,IN RT,1': bad parameter name",
    )
    with pytest.raises(ProtocolError, match="control character"):
        decode_block(raw_block("Bx7/1/1>1,50111,INRT,\x1f"), stuffing=False)


def test_content_details() -> None:
    empty = decode_content([])
    assert (empty.alive, empty.version, empty.rack_error, empty.pumps) == (False, None, None, ())
    assert decode_content([BccRecord(1, "50100", "GNERR", None)]).rack_error == "?"
    assert decode_content([BccRecord(1, "50100", "V3.30", "1")]).version is None
    assert decode_content([BccRecord(1, "50100", "X3.30", None)]).version is None
    unknown = decode_content([BccRecord(1, "60000", "INRT", "1")])
    assert unknown.pumps == () and unknown.problems == ("record for unknown address '60000'",)
    removed = decode_content([BccRecord(1, "50112", "GNERR", "39")])
    assert removed.pumps == () and [e.code for e in removed.pump_errors] == ["39"]
    twice = decode_content([BccRecord(1, PUMP, "INRT", "1"), BccRecord(2, PUMP, "INRT", "2")])
    assert twice.pumps[0].rate_ml_h == 2.0
    assert twice.problems == ("50111 INRT appears twice; last kept",)
    assert pump(INDCONU="x").problems == ("INDCONU='x': not an unsigned 32-bit integer",)
    assert pump(DSSTATUS="x").problems == ("DSSTATUS='x': not an unsigned 32-bit integer",)
    assert CorruptBlock("why").data == b""
    assert BccContent().alive is False and BccContent().version is None


def test_dsstatus_on_is_51() -> None:
    from drivers.codecs.bbraun_bcc import DSSTATUS_ON

    assert DSSTATUS_ON == 51  # TIS 3.4.2: 00050 off, 00051 on
