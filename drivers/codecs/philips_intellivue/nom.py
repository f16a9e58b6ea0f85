"""Philips IntelliVue Data Export: nomenclature, constants and the basic data types.

Every number here is from the *Data Export Interface Programming Guide* 4535 642 59271 as cited
in reference/protocols.md §1 and §9, cross-checked with the guide's C declarations as published
in public code (VSCaptureMP ``Class2.cs``, PERSEUS ``IntellivueDecoder.py`` and
``PhysioLabels.txt``, an ``intellivue.h`` transcription of the guide). All integers on the wire are
big-endian.
"""

from __future__ import annotations

from datetime import datetime
from enum import Enum, IntEnum, IntFlag

# --- session and remote-operation layer -------------------------------------------------------


class SessionType(IntEnum):
    """First byte of every message: an association SPDU, or 0xE1 for a Data Export command."""

    CONNECT = 0x0D  # CN_SPDU_SI: Association Request
    ACCEPT = 0x0E  # AC_SPDU_SI: Association Result
    REFUSE = 0x0C  # RF_SPDU_SI
    FINISH = 0x09  # FN_SPDU_SI: Release Request
    DISCONNECT = 0x0A  # DN_SPDU_SI: Release Result
    ABORT = 0x19  # AB_SPDU_SI
    DATA_EXPORT = 0xE1  # first byte of SPpdu.session_id 0xE100


SESSION_ID = 0xE100
#: The presentation context of Data Export commands when the association PDUs of the guide are
#: used (the guide; every public implementation sends 2).
P_CONTEXT_ID = 2


class RoType(IntEnum):
    INVOKE = 1  # ROIV_APDU
    RESULT = 2  # RORS_APDU
    ERROR = 3  # ROER_APDU
    LINKED_RESULT = 5  # ROLRS_APDU


class Command(IntEnum):
    EVENT_REPORT = 0
    CONFIRMED_EVENT_REPORT = 1
    GET = 3
    SET = 4
    CONFIRMED_SET = 5
    CONFIRMED_ACTION = 7


class LinkedState(IntEnum):
    """RorlsId.state: RORLS_LAST is the last linked part; "one RORSapdu to follow"."""

    FIRST = 1
    NOT_FIRST_NOT_LAST = 2
    LAST = 3


class ErrorValue(IntEnum):
    """ROERapdu.error_value."""

    NO_SUCH_OBJECT_CLASS = 0
    NO_SUCH_OBJECT_INSTANCE = 1
    ACCESS_DENIED = 2
    GET_LIST_ERROR = 7
    SET_LIST_ERROR = 8
    NO_SUCH_ACTION = 9
    PROCESSING_FAILURE = 10
    INVALID_ARGUMENT_VALUE = 15
    INVALID_SCOPE = 16
    INVALID_OBJECT_INSTANCE = 17


# --- object classes, events, actions (NOM_PART_OBJ) --------------------------------------------

NOM_PART_OBJ = 1
NOM_PART_SCADA = 2
NOM_MOC_VMO_METRIC_NU = 6  # Numeric
NOM_MOC_VMO_METRIC_SA_RT = 9  # real-time sample array (waves)
NOM_MOC_VMS_MDS = 0x21  # the Medical Device System
NOM_MOC_VMO_AL_MON = 0x36  # alert monitor (not polled by Vigil yet)
NOM_NOTI_MDS_CREAT = 0x0D06
NOM_ACT_POLL_MDIB_DATA = 0x0C16
NOM_ACT_POLL_MDIB_DATA_EXT = 0xF13B

# --- attributes --------------------------------------------------------------------------------

NOM_POLL_PROFILE_SUPPORT = 0x0001  # in MDSEUserInfoStd.supported_aprofiles
NOM_ATTR_POLL_PROFILE_EXT = 0xF001  # in PollProfileSupport.optional_packages
NOM_ATTR_ID_LABEL = 0x0924
NOM_ATTR_ID_LABEL_STRING = 0x0927
NOM_ATTR_ID_TYPE = 0x092F
NOM_ATTR_MODE_OP = 0x0946
NOM_ATTR_NU_CMPD_VAL_OBS = 0x094B
NOM_ATTR_NU_VAL_OBS = 0x0950
NOM_ATTR_TIME_ABS = 0x0987
NOM_ATTR_TIME_REL = 0x098F
NOM_ATTR_TIME_STAMP_ABS = 0x0990
NOM_ATTR_TIME_STAMP_REL = 0x0991
NOM_ATTR_VMS_MDS_STAT = 0x09A7
NOM_ATTR_TIME_PD_POLL = 0xF13E
NOM_ATTR_GRP_SYS_PROD = 0x080C  # the small attribute group VSCaptureMP polls as a keep-alive

#: NOM_ATTR_MODE_OP values.
OPMODE_MONITORING = 0x4000
OPMODE_DEMO = 0x2000

# --- association user data (MDSEUserInfoStd, PollProfileSupport) ------------------------------

MDDL_VERSION1 = 0x80000000
NOMEN_VERSION = 0x40000000
SYST_CLIENT = 0x80000000
SYST_SERVER = 0x00800000
HOT_START = 0x80000000
WARM_START = 0x40000000
COLD_START = 0x20000000
POLL_PROFILE_REV_0 = 0x80000000
P_OPT_DYN_CREATE_OBJECTS = 0x40000000
P_OPT_DYN_DELETE_OBJECTS = 0x20000000
POLL_EXT_PERIOD_NU_1SEC = 0x80000000  # real-time numerics
POLL_EXT_PERIOD_NU_AVG_12SEC = 0x40000000
POLL_EXT_PERIOD_NU_AVG_60SEC = 0x20000000
POLL_EXT_PERIOD_NU_AVG_300SEC = 0x10000000
POLL_EXT_PERIOD_RTSA = 0x08000000  # waves
#: Not named in the guide's published headers; set in VSCaptureMP's canned AARQ (0x8C000000).
POLL_EXT_BIT_26 = 0x04000000

# --- time --------------------------------------------------------------------------------------

#: RelativeTime ticks: 1/8 ms (the guide; the monitor sets it with 2 ms precision).
TICKS_PER_SECOND = 8000
RELATIVE_TIME_MODULUS = 1 << 32


def association_timeout(min_poll_period_s: float) -> float:
    """The monitor's time-out without a client message (protocols.md §9)."""
    if min_poll_period_s < 3.3:
        return 10.0
    if min_poll_period_s <= 43.0:
        return 3.0 * min_poll_period_s
    return 130.0


def decode_absolute_time(raw: bytes) -> datetime | None:
    """AbsoluteTime: century, year, month, day, hour, minute, second, fraction, each BCD.

    The monitor's local wall clock, without a zone, so a naive ``datetime``; ``None`` when the
    monitor sends 0xFF fields (time not set) or digits that are not BCD. ``sec_fractions`` is
    unused by the monitor (one-second resolution).
    """
    if len(raw) != 8:
        return None
    digits = []
    for byte in raw[:7]:
        high, low = byte >> 4, byte & 0x0F
        if high > 9 or low > 9:
            return None
        digits.append(high * 10 + low)
    century, year, month, day, hour, minute, second = digits
    try:
        return datetime(century * 100 + year, month, day, hour, minute, second)
    except ValueError:
        return None


# --- FLOAT-Type --------------------------------------------------------------------------------


class FloatSpecial(Enum):
    """The reserved mantissas of FLOAT-Type (any exponent)."""

    NAN = 0x7FFFFF
    NRES = 0x800000  # not at this resolution
    POS_INF = 0x7FFFFE
    NEG_INF = 0x800002


_SPECIALS = {special.value: special for special in FloatSpecial}


def decode_float(raw: int) -> float | FloatSpecial:
    """FLOAT-Type: signed 8-bit exponent, signed 24-bit mantissa, value = m × 10^e.

    Vectors (mindleaving IntellivueFloatTest.cs): FD007D00 = 32.000, FF000140 = 32.0,
    01000140 = 3200, 02000020 = 3200. A negative exponent divides, so 985e-1 is exactly 98.5.
    """
    mantissa = raw & 0xFFFFFF
    special = _SPECIALS.get(mantissa)
    if special is not None:
        return special
    if mantissa & 0x800000:
        mantissa -= 0x1000000
    exponent = (raw >> 24) & 0xFF
    if exponent & 0x80:
        exponent -= 0x100
    if exponent < 0:
        divisor: int = 10**-exponent
        return mantissa / divisor
    return float(mantissa * 10**exponent)


# --- measurement state, units, physiological ids -------------------------------------------------


class MeasurementState(IntFlag):
    INVALID = 0x8000
    QUESTIONABLE = 0x4000
    UNAVAILABLE = 0x2000
    CALIBRATION_ONGOING = 0x1000
    TEST_DATA = 0x0800
    DEMO_DATA = 0x0400
    VALIDATED_DATA = 0x0080
    EARLY_INDICATION = 0x0040
    MSMT_ONGOING = 0x0020
    IN_ALARM = 0x0002
    AL_INHIBITED = 0x0001


#: protocols.md §1: any of these means "no value".
NO_VALUE_STATES = (
    MeasurementState.INVALID | MeasurementState.QUESTIONABLE | MeasurementState.UNAVAILABLE
)


class Unit(IntEnum):
    """NOM_PART_DIM codes Vigil converts (the guide's unit table)."""

    NOS = 0x0000
    PERCENT = 0x0220
    PER_MIN = 0x09E0
    BEAT_PER_MIN = 0x0AA0
    PULS_PER_MIN = 0x0AC0
    RESP_PER_MIN = 0x0AE0
    KILO_PASCAL = 0x0F03
    MMHG = 0x0F20
    FAHR = 0x1140
    DEGC = 0x17A0


class Physio(IntEnum):
    """NOM_PART_SCADA codes of the vitals Vigil reads (protocols.md §1 table)."""

    ECG_CARD_BEAT_RATE = 0x4182
    PLETH_PULS_RATE = 0x4822
    PRESS_BLD_NONINV = 0x4A04
    PRESS_BLD_NONINV_SYS = 0x4A05
    PRESS_BLD_NONINV_DIA = 0x4A06
    PRESS_BLD_NONINV_MEAN = 0x4A07
    TEMP = 0x4B48
    PULS_OXIM_SAT_O2 = 0x4BB8
    RESP_RATE = 0x500A  # impedance
    AWAY_RESP_RATE = 0x5012  # airway (CO2)
    CONC_AWAY_CO2_ET = 0x509C  # protocols.md: an alternative etCO2 code, accepted
    AWAY_CO2 = 0x50AC  # the CO2 compound (ET and INSP_MIN inside)
    AWAY_CO2_ET = 0x50B0
    AWAY_CO2_INSP_MIN = 0x50BA


#: A TextId label whose high word is 0x0402 names a *setting* (NLS_NOM_SETT_*, PERSEUS
#: PhysioLabels.txt): ventilator or temperature settings reuse measurement physio ids.
SETTING_LABEL_PREFIX = 0x0402
