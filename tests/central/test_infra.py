"""The central station's test harness and shipped broker configuration, against real servers.

MQTT: a real Mosquitto runs deploy/mosquitto/vigil.conf and deploy/mosquitto/acl (TLS, password
file); clients are paho-mqtt 2 MQTT v5 clients. A message that must NOT arrive is checked with a
sentinel instead of a sleep: the same publisher then sends an allowed message to the same
watcher, and MQTT delivers one publisher's messages to a subscriber in order, so once the
sentinel is in, the forbidden message would have been too.

PostgreSQL: the project's Alembic migrations and SQLAlchemy models on a real server.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.reasoncodes import ReasonCode
from sqlalchemy import inspect, select
from sqlalchemy.orm import Session

from drivers.readings import Availability, AvailabilityChange, Metric, Validity, VitalReading
from service.alarms import AlarmEngine
from service.infusions.tables import InfusionSessionRow, PatientRow, SessionNoteRow
from service.persistence.db import downgrade, head_revision, make_engine, upgrade
from service.persistence.models import AlarmLogRow, AuditLogRow, ReadingRow, UserRow
from service.persistence.writer import active_alarms, write_events
from tests.central.infra import (
    DEFAULT_USERS,
    SHIPPED_CONF,
    Mosquitto,
    Postgres,
    Probe,
    probe,
)

NOT_AUTHORIZED = 0x87
BAD_USER_NAME_OR_PASSWORD = 0x86
VITALS = "vigil/v1/clinic-a/bed-1/up/vitals"


@pytest.fixture
def clients() -> Iterator[list[Probe]]:
    """Collects the probes a test opens and closes them all afterwards."""
    opened: list[Probe] = []
    yield opened
    for client in opened:
        client.close()


def connect(opened: list[Probe], broker: Mosquitto, user: str) -> Probe:
    client = probe(broker, user)
    opened.append(client)
    return client


# ---------------------------------------------------------------------------------------------
# The shipped configuration


def active_lines(path: Path) -> list[list[str]]:
    lines = (line.split() for line in path.read_text().splitlines())
    return [words for words in lines if words and not words[0].startswith("#")]


def test_shipped_config_has_one_listener_with_tls_and_no_anonymous_access() -> None:
    options = active_lines(SHIPPED_CONF)
    assert options[0] == ["per_listener_settings", "false"]  # before any listener option
    assert [words for words in options if words[0] == "listener"] == [["listener", "8883"]]
    settings = {words[0]: words[1:] for words in options}
    assert settings["allow_anonymous"] == ["false"]
    assert settings["require_certificate"] == ["false"]
    assert settings["persistence"] == ["true"]
    for key, name in [("cafile", "ca.crt"), ("certfile", "server.crt"), ("keyfile", "server.key")]:
        assert settings[key] == [f"/etc/mosquitto/vigil/{name}"]
    assert settings["password_file"] == ["/etc/mosquitto/vigil/passwords"]
    assert settings["acl_file"] == ["/etc/mosquitto/vigil/acl"]
    assert int(settings["max_queued_messages"][0]) > 1000


def test_shipped_config_starts_under_debians_own_main_config() -> None:
    """A clinic copies vigil.conf into /etc/mosquitto/conf.d/: Mosquitto must accept it together
    with the mosquitto.conf of the Debian package (e.g. no option given twice)."""
    main = Path("/etc/mosquitto/mosquitto.conf")
    if not main.exists():
        pytest.fail(f"{main} missing: run apt-get install mosquitto as root", pytrace=False)
    debian = main.read_text()
    with Mosquitto({"bed-1": "pw"}, main_conf=debian) as broker:
        probe(broker, "bed-1").close()


# ---------------------------------------------------------------------------------------------
# Access rules


def test_unit_publishes_under_its_bed_and_central_receives_it(
    mosquitto: Mosquitto, clients: list[Probe]
) -> None:
    central = connect(clients, mosquitto, "central")
    assert [code.value for code in central.subscribe("vigil/v1/#")] == [1]  # granted QoS 1
    bed = connect(clients, mosquitto, "bed-1")
    assert bed.publish(VITALS, b'{"spo2": 97}').value == 0
    message = central.wait_message(VITALS)
    assert (message.payload, message.qos) == (b'{"spo2": 97}', 1)


@pytest.mark.parametrize(
    ("user", "topic", "sentinel"),
    [
        # another bed's readings
        ("bed-2", VITALS, "vigil/v1/clinic-a/bed-2/up/vitals"),
        # a unit's own command topic: only the central may send commands
        ("bed-1", "vigil/v1/clinic-a/bed-1/cmd/ack", VITALS),
        # the central cannot pose as a bedside unit
        ("central", VITALS, "vigil/v1/clinic-a/bed-1/cmd/ping"),
        # outside the protocol's topic tree
        ("bed-1", "elsewhere/bed-1/up/vitals", VITALS),
    ],
    ids=["other-bed", "own-cmd", "central-as-bed", "outside-tree"],
)
def test_forbidden_publish_is_refused_and_never_delivered(
    mosquitto: Mosquitto, clients: list[Probe], user: str, topic: str, sentinel: str
) -> None:
    watcher = connect(clients, mosquitto, "central")
    watcher.subscribe("#")  # the central may subscribe to anything, but only receives vigil/v1/#
    publisher = connect(clients, mosquitto, user)
    assert publisher.publish(topic, b"forged").value == NOT_AUTHORIZED
    assert publisher.publish(sentinel, b"allowed").value == 0
    watcher.wait_message(sentinel)
    assert watcher.topics() == [sentinel]
    assert publisher.client.is_connected()  # a refused publish does not cost the connection


def test_commands_reach_only_the_addressed_bed(mosquitto: Mosquitto, clients: list[Probe]) -> None:
    bed1 = connect(clients, mosquitto, "bed-1")
    bed1.subscribe("vigil/v1/+/bed-1/cmd/#")
    bed2 = connect(clients, mosquitto, "bed-2")
    # Mosquitto 2.0 grants the subscription and applies "read" to each message it would deliver.
    bed2.subscribe("vigil/v1/clinic-a/bed-1/cmd/#")
    bed2.subscribe("vigil/v1/clinic-a/bed-2/cmd/#")
    central = connect(clients, mosquitto, "central")
    assert central.publish("vigil/v1/clinic-a/bed-1/cmd/ack", b"alarm-1").value == 0
    assert bed1.wait_message("vigil/v1/clinic-a/bed-1/cmd/ack").payload == b"alarm-1"
    assert central.publish("vigil/v1/clinic-a/bed-2/cmd/ping", b"").value == 0
    bed2.wait_message("vigil/v1/clinic-a/bed-2/cmd/ping")
    assert bed2.topics() == ["vigil/v1/clinic-a/bed-2/cmd/ping"]


def test_a_unit_cannot_read_other_beds_readings(mosquitto: Mosquitto, clients: list[Probe]) -> None:
    bed2 = connect(clients, mosquitto, "bed-2")
    bed2.subscribe("vigil/v1/#")
    bed1 = connect(clients, mosquitto, "bed-1")
    assert bed1.publish(VITALS, b"97").value == 0
    central = connect(clients, mosquitto, "central")
    assert central.publish("vigil/v1/clinic-a/bed-2/cmd/ping", b"").value == 0
    bed2.wait_message("vigil/v1/clinic-a/bed-2/cmd/ping")
    assert bed2.topics() == ["vigil/v1/clinic-a/bed-2/cmd/ping"]


def test_last_will_under_up_reaches_the_central_but_a_forged_one_does_not(
    mosquitto: Mosquitto, clients: list[Probe]
) -> None:
    central = connect(clients, mosquitto, "central")
    central.subscribe("vigil/v1/#")
    with_will = ReasonCode(PacketTypes.DISCONNECT, "Disconnect with will message")
    # Mosquitto accepts a will on another bed's topic, but drops it when it would publish it.
    forger = probe(mosquitto, "bed-1", will=("vigil/v1/clinic-a/bed-2/up/status", b"offline"))
    clients.append(forger)
    forger.client.disconnect(with_will)
    status = "vigil/v1/clinic-a/bed-1/up/status"
    unit = probe(mosquitto, "bed-1", will=(status, b"offline"))
    clients.append(unit)
    # MQTT v5 "disconnect with will message": the broker publishes the will as if the unit died.
    unit.client.disconnect(with_will)
    message = central.wait_message(status)
    assert (message.payload, message.qos) == (b"offline", 1)
    assert central.topics() == [status]


# ---------------------------------------------------------------------------------------------
# Authentication and TLS


@pytest.mark.parametrize(
    ("user", "password"),
    [("bed-1", "wrong"), ("bed-99", "bed-99-pw"), (None, None)],
    ids=["wrong-password", "unknown-user", "anonymous"],
)
def test_bad_credentials_are_refused(
    mosquitto: Mosquitto, user: str | None, password: str | None
) -> None:
    client = probe(mosquitto, user, password, wait=False)
    try:
        # Mosquitto 2.0.11 answers 0x87 Not authorized; newer versions may answer 0x86.
        assert client.wait_connack().value in (NOT_AUTHORIZED, BAD_USER_NAME_OR_PASSWORD)
        client.wait_disconnect()
    finally:
        client.close()


def test_plain_mqtt_on_the_tls_port_is_refused(mosquitto: Mosquitto) -> None:
    client = probe(mosquitto, "bed-1", tls=False, wait=False)
    try:
        client.wait_disconnect()
        assert client.connacks == []
    finally:
        client.close()


# ---------------------------------------------------------------------------------------------
# Persistence and restarts


def test_retained_message_survives_a_broker_restart(
    mosquitto: Mosquitto, clients: list[Probe]
) -> None:
    state = "vigil/v1/clinic-a/bed-1/up/state"
    bed = probe(mosquitto, "bed-1")
    assert not bed.publish(state, b"infusing", retain=True).is_failure  # 0x10: no subscriber
    bed.close()
    port = mosquitto.port
    mosquitto.restart()
    assert mosquitto.port == port
    central = connect(clients, mosquitto, "central")
    central.subscribe("vigil/v1/#")
    message = central.wait_message(state)
    assert (message.payload, message.retain) == (b"infusing", True)


def test_a_killed_broker_starts_again_and_clients_see_the_loss(
    mosquitto: Mosquitto, clients: list[Probe]
) -> None:
    bed = connect(clients, mosquitto, "bed-1")
    mosquitto.kill()
    assert not mosquitto.running
    bed.wait_disconnect()
    mosquitto.start()
    connect(clients, mosquitto, "bed-1")


# ---------------------------------------------------------------------------------------------
# PostgreSQL


def test_migrations_run_up_down_and_up_on_postgresql(postgres: str) -> None:
    upgrade(postgres)
    engine = make_engine(postgres)
    try:
        tables = set(inspect(engine).get_table_names())
        assert {"readings", "alarm_log", "audit_log", "users", "infusion_sessions"} <= tables
        downgrade(postgres, "base")
        assert set(inspect(engine).get_table_names()) == {"alembic_version"}
        upgrade(postgres)
        assert "session_notes" in inspect(engine).get_table_names()
        with engine.connect() as conn:
            version = conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
        assert version == head_revision()
        # The bed keeps its side of the link; the central's tables live in its own database
        # (central/migrations; tests/central/test_migrations.py).
        tables = set(inspect(engine).get_table_names())
        assert "central_outbox" in tables and not {"central_beds", "central_events"} & tables
    finally:
        engine.dispose()


def test_rows_round_trip_on_postgresql_with_utc_aware_times(postgres: str) -> None:
    upgrade(postgres)
    engine = make_engine(postgres)
    berlin = timezone(timedelta(hours=2))
    local = datetime(2026, 6, 1, 11, 30, 15, 123456, tzinfo=berlin)
    utc = datetime(2026, 6, 1, 9, 30, 15, 123456, tzinfo=UTC)
    try:
        with Session(engine) as session:
            patient = PatientRow(pseudonym="P-001", name=None, created_at=local)
            session.add(patient)
            session.flush()
            infusion = InfusionSessionRow(
                bed="bed-1",
                patient_id=patient.id,
                drug="ketamine",
                weight_kg=70.0,
                dose_mg_per_kg=0.5,
                concentration_mg_ml=1.0,
                duration_min=40.0,
                phase="infusing",
                created_at=local,
                created_by="nurse",
                started_at=utc,
                started_by="nurse",
            )
            session.add(infusion)
            session.flush()
            session.add_all(
                [
                    SessionNoteRow(
                        session_id=infusion.id, at=local, user="nurse", kind="note", text="ok"
                    ),
                    ReadingRow(
                        source="monitor",
                        metric="spo2",
                        value=97.0,
                        validity="valid",
                        measured_at=local,
                    ),
                    AuditLogRow(at=local, mono=1.5, user="nurse", action="ack", detail=""),
                    UserRow(
                        username="nurse",
                        display_name="Nurse",
                        role="nurse",
                        secret_hash="x",
                        active=True,
                        failures=0,
                        locked_until=None,
                        created_at=local,
                    ),
                ]
            )
            session.commit()
        with Session(engine) as session:
            reading = session.scalars(select(ReadingRow)).one()
            assert reading.measured_at == utc and reading.measured_at.tzinfo == UTC
            assert reading.measured_at.microsecond == 123456
            loaded = session.scalars(select(InfusionSessionRow)).one()
            assert (loaded.created_at, loaded.started_at) == (utc, utc)
            assert loaded.created_at.tzinfo == UTC and loaded.infusion_ended_at is None
            note = session.scalars(select(SessionNoteRow)).one()
            assert (note.session_id, note.user, note.at.tzinfo) == (loaded.id, "nurse", UTC)
            user = session.scalars(select(UserRow)).one()
            assert (user.active, user.locked_until, user.created_at) == (True, None, utc)
            audit = session.scalars(select(AuditLogRow)).one()
            assert (audit.user, audit.at) == ("nurse", utc)  # "user" is reserved in PostgreSQL
    finally:
        engine.dispose()


def test_persistence_writer_and_alarm_restore_on_postgresql(postgres: str) -> None:
    upgrade(postgres)
    engine = make_engine(postgres)
    t0 = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)
    try:
        alarms = AlarmEngine()
        raised = alarms.observe(AvailabilityChange("monitor", Availability.STALE, t0), t0)
        reading = VitalReading("monitor", Metric.SPO2, 97.0, t0, Validity.VALID)
        write_events(engine, [reading, *raised])
        assert [alarm.key for alarm in active_alarms(engine)] == ["device_link:monitor"]
        with Session(engine) as session:
            logged = session.scalars(select(AlarmLogRow)).one()
            assert (logged.started_at, logged.event) == (t0, "raised")
    finally:
        engine.dispose()


def test_a_fresh_database_per_test(postgres: str, postgres_server: Postgres) -> None:
    assert postgres != postgres_server.url
    engine = make_engine(postgres)
    try:
        assert inspect(engine).get_table_names() == []
    finally:
        engine.dispose()


def test_every_default_user_can_connect(mosquitto: Mosquitto, clients: list[Probe]) -> None:
    assert mosquitto.users == DEFAULT_USERS
    assert set(DEFAULT_USERS) == {"central", *(f"bed-{n}" for n in range(1, 9))}
    for user in DEFAULT_USERS:
        connect(clients, mosquitto, user)
