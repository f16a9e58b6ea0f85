"""B. Braun: every alarm bit and flag becomes the condition docs/protocols/bbraun-bcc.md names.

The table below is the "Conditions" table of docs/protocols/bbraun-bcc.md, restated bit by bit
(bit numbers from mindleaving ``PumpAlarm1.cs``, ``PumpAlarm2.cs``, ``PreAlarmReason.cs``). Each
row goes through the codec's value parser and the handler's ``pump_conditions``; both ways: every
bit the handler maps is in this table.
"""

from __future__ import annotations

import pytest

from drivers.codecs.bbraun_bcc import BccRecord, decode_content
from drivers.handlers.bbraun_bcc import (
    ALARM1_CONDITIONS,
    ALARM2_CONDITIONS,
    FLAG_CONDITIONS,
    PREALARM_CONDITIONS,
    pump_conditions,
)
from drivers.readings import PumpCondition as C

ALARM1_DOC = {
    1: C.PUMP_FAULT,
    2: C.BATTERY_EMPTY,
    3: C.PUMP_FAULT,
    4: C.PUMP_FAULT,
    5: C.BATTERY_LOW,
    6: C.PUMP_FAULT,
    7: C.BATTERY_EMPTY,
    8: C.PUMP_FAULT,
    9: C.CONTAINER_EMPTY,  # syringe empty
    10: C.OCCLUSION,  # pressure too high
    11: C.OCCLUSION,
    12: C.TIME_OVER,
    13: C.END_OF_VOLUME,  # volume infused
    14: C.TIME_OVER,
    15: C.PUMP_FAULT,
    16: C.PUMP_FAULT,
    17: C.DOOR_OPEN,  # syringe holder open
    18: C.PUMP_FAULT,
    19: C.END_OF_VOLUME,  # KVO end
    20: C.OCCLUSION,  # upstream
    22: C.DROP_ALARM,
    23: C.DROP_ALARM,
    24: C.DROP_ALARM,
    25: C.DROP_ALARM,
    26: C.DROP_ALARM,
    27: C.DROP_ALARM,
    28: C.AIR_IN_LINE,
    29: C.AIR_IN_LINE,  # air bubble too large
    30: C.AIR_IN_LINE,
    31: C.PUMP_FAULT,  # air sensor fault
}
ALARM2_DOC = {
    2: C.TIME_OVER,
    3: C.END_OF_VOLUME,
    4: C.CONTAINER_EMPTY,
    5: C.PUMP_FAULT,
    7: C.PUMP_FAULT,
    29: C.PUMP_FAULT,
    30: C.DOOR_OPEN,
    31: C.PUMP_FAULT,
}
PREALARM_DOC = {1: C.PRE_ALARM, 2: C.PRE_ALARM, 3: C.PRE_ALARM, 4: C.BATTERY_LOW}
FLAGS_DOC = {
    "INA1": C.BATTERY_EMPTY,
    "INA2": C.CONTAINER_EMPTY,
    "INA3": C.OCCLUSION,
    "INA4": C.PRE_ALARM,
    "INA5": C.TIME_OVER,
    "INA6": C.PUMP_FAULT,
    "INA7": C.END_OF_VOLUME,
    "INA8": C.TIME_OVER,
    "INA9": C.PUMP_FAULT,
    "INA11": C.BATTERY_LOW,
    "INA12": C.PRE_ALARM,
    "INA13": C.DOOR_OPEN,
    "INA14": C.DROP_ALARM,
    "INA15": C.AIR_IN_LINE,
    "INA16": C.END_OF_VOLUME,
}
TABLES = [("ALARM1", ALARM1_DOC), ("ALARM2", ALARM2_DOC), ("PREALARM", PREALARM_DOC)]


def conditions(name: str, value: str) -> frozenset[C]:
    (status,) = decode_content([BccRecord(1, "50111", name, value)]).pumps
    return pump_conditions(status)


@pytest.mark.parametrize(
    ("parameter", "bit", "condition"),
    [(p, bit, c) for p, doc in TABLES for bit, c in doc.items()],
)
def test_every_bit_gives_its_condition(parameter: str, bit: int, condition: C) -> None:
    assert conditions(parameter, str(1 << bit)) == {condition}


@pytest.mark.parametrize(("name", "condition"), FLAGS_DOC.items())
def test_every_flag_gives_its_condition(name: str, condition: C) -> None:
    assert conditions(name, "1") == {condition}
    assert conditions(name, "0") == frozenset()


@pytest.mark.parametrize(
    ("parameter", "bits"), [("ALARM1", [0, 21]), ("ALARM2", [0, 1, 6]), ("PREALARM", [5, 6, 15])]
)
def test_unmapped_bits_give_no_condition(parameter: str, bits: list[int]) -> None:
    for bit in bits:
        assert conditions(parameter, str(1 << bit)) == frozenset()


def test_the_handler_maps_nothing_undocumented() -> None:
    assert {int(bit).bit_length() - 1: c for bit, c in ALARM1_CONDITIONS.items()} == ALARM1_DOC
    assert {int(bit).bit_length() - 1: c for bit, c in ALARM2_CONDITIONS.items()} == ALARM2_DOC
    assert {int(bit).bit_length() - 1: c for bit, c in PREALARM_CONDITIONS.items()} == PREALARM_DOC
    assert FLAG_CONDITIONS == FLAGS_DOC
