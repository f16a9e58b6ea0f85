"""The clinic central station (``vigil central``): every bed of one clinic on one screen.

It subscribes to the beds' MQTT messages (docs/mqtt.md), keeps a picture of every bed in memory
(``Board``, pure logic), stores what the beds send in PostgreSQL or SQLite (``CentralWriter``,
a worker thread), serves the overview page and its live socket (central/api.py),
relays a nurse's acknowledgement to the bed, and escalates alarms nobody acknowledges to the
``Notifier``s (a webhook).

Threads: paho's network thread only hands messages to the event loop; the loop parses them,
updates the board and queues records, never waiting for the database or the network; the
database is written in a worker thread. Only this shell reads the clock: the board gets ``now``.

The broker's QoS 1 messages (events, status) are acknowledged (PUBACK) once what they carry is
committed, in the order they arrived, so a central that dies between receiving an event and
storing it gets it again from its broker session. A database that is failing or slow must not
stall the stream: an acknowledgement never waits more than ``ACK_WAIT_S``; the records stay
queued in memory and are retried.

The station is also the ``AuthHost`` of the shared sign-in routes and role checks
(service/api/auth.py and security.py, through ``service.api.deps.AuthHost``: ``users``,
``sessions``, ``throttle``, ``clock``, ``audit``, ``wrong_pins``), so the central signs nurses in
exactly as a bed does, with its own users in its own database.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections import deque
from datetime import timedelta
from typing import Any

from central.board import AuditRecord, Board, Command, Outputs, Refused
from central.broker import BrokerLink, Incoming
from central.db import upgrade
from central.notify import Notifier, Notifiers, WebhookNotifier
from central.settings import StationSettings
from central.store import CentralWriter, central_engine, escalated_since, load_beds
from drivers.clock import Clock, SystemClock
from service.auth.signins import SignInStore
from service.auth.throttle import Burst, Throttle
from service.auth.users import UserStore
from service.mqtt_schema import BadMessage, command_topic, encode_acknowledge, parse
from service.platform import systemd
from service.serialize import iso
from service.tasks import TaskSupervisor, off_loop

log = logging.getLogger(__name__)

#: The longest a QoS 1 message waits for the database before it is acknowledged anyway.
ACK_WAIT_S = 2.0
#: How often time moves on for the board (staleness, escalations, command time-outs).
TICK_S = 0.2
#: Escalations recorded this recently are not sent again after a restart.
ESCALATION_MEMORY = timedelta(days=1)


class LiveClient:
    """One overview page: which beds changed since it was last sent them."""

    def __init__(self) -> None:
        self.dirty: set[str] = set()
        self.station_dirty = False
        self.wake = asyncio.Event()


class LiveHub:
    def __init__(self) -> None:
        self.clients: set[LiveClient] = set()

    def join(self) -> LiveClient:
        client = LiveClient()
        self.clients.add(client)
        return client

    def leave(self, client: LiveClient) -> None:
        self.clients.discard(client)

    def changed(self, beds: set[str]) -> None:
        if not beds:
            return
        for client in self.clients:
            client.dirty |= beds
            client.wake.set()

    def station_changed(self) -> None:
        for client in self.clients:
            client.station_dirty = True
            client.wake.set()


class CentralStation:
    def __init__(
        self,
        settings: StationSettings,
        *,
        clock: Clock | None = None,
        notifiers: list[Notifier] | None = None,
    ) -> None:
        self.settings = settings
        self.clock: Clock = clock or SystemClock()
        self.db = central_engine(settings.database_url)
        self.users = UserStore(self.db)
        self.throttle = Throttle()
        self.sign_ins = SignInStore(
            persist=off_loop(self.users.save_sign_in), forget=off_loop(self.users.delete_sign_in)
        )
        self.board = Board(
            settings.clinic,
            stale_after=timedelta(seconds=settings.stale_after_s),
            escalate_after=timedelta(seconds=settings.escalate_after_s),
            command_timeout=timedelta(seconds=settings.command_timeout_s),
        )
        self.writer = CentralWriter(self.db, settings.clinic)
        if notifiers is None:
            notifiers = []
            if settings.webhook_url:
                notifiers.append(
                    WebhookNotifier(
                        settings.webhook_url,
                        timeout_s=settings.webhook_timeout_s,
                        retries=settings.webhook_retries,
                    )
                )
        self.notifiers = Notifiers(notifiers)
        self.live = LiveHub()
        self.link: BrokerLink | None = None
        self.broker: dict[str, Any] = {
            "connected": False,
            "detail": "not started",
            "since": iso(self.clock.utcnow()),
        }
        self.bad_messages = 0
        self.last_bad = ""
        self.escalations = 0
        self._acks: deque[tuple[int, Incoming, float]] = deque()
        # A task that dies is logged as critical (service/tasks.py); the watchdog stops
        # pinging when the writer or the ticker is gone.
        self.tasks = TaskSupervisor(on_death=lambda _name, _exc: None)
        self._texts: dict[str, tuple[int, str]] = {}
        self._signature: tuple[Any, ...] = ()

    # -- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        s = self.settings
        now = self.clock.utcnow()
        await asyncio.to_thread(upgrade, s.database_url)
        for digest, user, expires in await asyncio.to_thread(self.users.sign_ins, now):
            self.sign_ins.restore(digest, user, expires)
        rows = await asyncio.to_thread(load_beds, self.db, s.clinic)
        escalated = await asyncio.to_thread(escalated_since, self.db, now - ESCALATION_MEMORY)
        for row in rows:
            self.board.restore(
                row.bed,
                last_seq=row.last_seq,
                last_seen=row.last_seen,
                status_at=row.status_at,
                state=row.state,
                escalated={a: at for (bed, a), at in escalated.items() if bed == row.bed},
            )
        if rows:
            log.info("restored %d bed(s) of %s from the database", len(rows), s.clinic)
        self.writer.on_written.append(self._release_acks)
        self.tasks.spawn(self.writer.run(), "central-writer")
        self.tasks.spawn(self._ticker(), "central-ticker")
        self.tasks.spawn(systemd.watchdog_task(healthy=self._healthy), "systemd-watchdog")
        password = s.password.get_secret_value() if s.password is not None else ""
        self.link = BrokerLink(
            host=s.broker_host,
            port=s.broker_port,
            username=s.username,
            password=password,
            client_id=s.mqtt_client_id,
            clinic=s.clinic,
            ca_file=None if s.ca_file is None else str(s.ca_file),
            keepalive=s.keepalive_s,
            loop=asyncio.get_running_loop(),
            on_message=self._received,
            on_state=self._broker_state,
        )
        self._broker_state(False, f"connecting to {s.broker_host}:{s.broker_port}")
        self.link.start()
        log.info(
            "central station of %s: broker %s:%d, database %s",
            s.clinic,
            s.broker_host,
            s.broker_port,
            self.db.url.render_as_string(hide_password=True),
        )

    async def stop(self) -> None:
        systemd.notify_stopping()
        if self.link is not None:
            await asyncio.to_thread(self.link.stop)
        await self.tasks.stop()
        await self.notifiers.close()
        try:
            await self.writer.flush()
        except Exception:
            log.exception("could not write the last %d records at shutdown", len(self.writer))
        self.db.dispose()

    def _healthy(self) -> bool:
        return self.tasks.alive("central-writer", "central-ticker")

    # -- what arrives (event loop) -------------------------------------------------------

    def _received(self, incoming: Incoming) -> None:
        now = self.clock.utcnow()
        out = Outputs()
        try:
            message = parse(incoming.topic, incoming.payload, self.settings.clinic)
        except BadMessage as exc:
            self.bad_messages += 1
            self.last_bad = f"{incoming.topic}: {exc}"[:300]
            if self.bad_messages <= 20 or self.bad_messages % 100 == 0:
                log.warning(
                    "ignored a bad message (%d so far) %s", self.bad_messages, self.last_bad
                )
            message = None
        if message is not None:
            out = self.board.observe(message, now, retained=incoming.retain)
        ticket = self.writer.put(out.records)
        if incoming.qos > 0:
            self._acks.append((ticket, incoming, self.clock.monotonic()))
            self._release_acks()
        self._apply(out)

    def _release_acks(self) -> None:
        """PUBACK, in arrival order, every message whose records are committed (or that has
        waited ``ACK_WAIT_S``, or all while the database is failing)."""
        link = self.link
        if link is None:
            return
        written = self.writer.written_ticket
        failing = self.writer.failing
        now = self.clock.monotonic()
        while self._acks:
            ticket, incoming, since = self._acks[0]
            if ticket > written and not failing and now - since < ACK_WAIT_S:
                break
            self._acks.popleft()
            link.ack(incoming.mid, incoming.qos, incoming.generation)

    def _apply(self, out: Outputs) -> None:
        self.live.changed(out.changed)
        for escalation in out.escalations:
            self.escalations += 1
            log.warning(
                "escalated: %s %s %s (not acknowledged for %d s)",
                escalation.bed,
                escalation.alarm.get("priority"),
                escalation.alarm.get("message"),
                escalation.payload()["unacknowledged_for_s"],
            )
            self.notifiers.send(escalation)

    def _broker_state(self, connected: bool, detail: str) -> None:
        quiet = detail == "stopped" or detail.startswith("connecting")
        if connected != self.broker["connected"]:
            (log.info if connected or quiet else log.error)("MQTT: %s", detail)
            self.broker["since"] = iso(self.clock.utcnow())
        elif quiet:
            log.info("MQTT: %s", detail)
        elif not connected and detail != self.broker["detail"]:
            log.warning("MQTT: %s (retrying)", detail)
        self.broker["connected"] = connected
        self.broker["detail"] = detail
        self.live.station_changed()

    async def _ticker(self) -> None:
        while True:
            out = self.board.tick(self.clock.utcnow())
            self.writer.put(out.records)
            self._apply(out)
            self._release_acks()
            signature = (
                self.broker["connected"],
                self.broker["detail"],
                self.writer.failing,
                tuple(n["ok"] for n in self.notifiers.health()),
            )
            if signature != self._signature:
                self._signature = signature
                self.live.station_changed()
            await asyncio.sleep(TICK_S)

    # -- actions -------------------------------------------------------------------------

    async def acknowledge(self, bed: str, alarm_id: str, user: str) -> Command:
        """Send a nurse's acknowledgement to the bed; ``Refused`` says why not."""
        link = self.link
        if link is None or not link.connected:
            raise Refused(503, "central broker unreachable: nothing can be sent to the beds")
        now = self.clock.utcnow()
        command_id = uuid.uuid4().hex
        command, out = self.board.acknowledge(bed, alarm_id, user, command_id, now)
        self.writer.put(out.records)
        self._apply(out)
        payload = encode_acknowledge(bed, command_id, alarm_id, user, now)
        try:
            await link.publish(
                command_topic(self.settings.clinic, bed, "acknowledge"),
                payload.encode(),
                expiry_s=max(1, round(self.settings.command_timeout_s)),
            )
        except ConnectionError as exc:
            self._apply(self.board.command_failed(command_id, str(exc), self.clock.utcnow()))
            raise Refused(503, str(exc)) from None
        log.info("acknowledge of %s at %s sent for %s (%s)", alarm_id, bed, user, command_id)
        return command

    def audit(self, action: str, user: str, detail: str) -> None:
        """A human action that is not about a bed (sign-ins, user changes)."""
        self.writer.put([AuditRecord(None, self.clock.utcnow(), user, action, detail)])

    def wrong_pins(self, burst: Burst) -> None:
        """A burst of wrong PINs from one client (audited once; the sign-in is throttled)."""
        detail = f"{burst.failures} wrong PINs for {burst.username!r} from {burst.client}"
        log.warning("repeated wrong PINs: %s", detail)
        self.audit("wrong_pins", burst.username[:32] or "?", detail)

    # -- views ---------------------------------------------------------------------------

    def bed_text(self, bed: str) -> str | None:
        """The live socket's ``bed`` message, serialised once per change for all pages."""
        state = self.board.beds.get(bed)
        if state is None:
            return None
        cached = self._texts.get(bed)
        if cached is not None and cached[0] == state.revision:
            return cached[1]
        text = json.dumps({"type": "bed", "bed": state.json()})
        self._texts[bed] = (state.revision, text)
        return text

    def station_json(self) -> dict[str, Any]:
        beds = self.board.beds.values()
        return {
            "clinic": self.settings.clinic,
            "broker": dict(self.broker),
            "storage": self.writer.health(),
            "notifiers": self.notifiers.health(),
            "beds": {
                "total": len(self.board.beds),
                "online": sum(b.status == "online" for b in beds),
                "stale": sum(b.status == "stale" for b in beds),
                "offline": sum(b.status == "offline" for b in beds),
            },
            "clients": len(self.live.clients),
            "bad_messages": self.bad_messages,
            "last_bad_message": self.last_bad,
            "duplicates": self.board.duplicates,
            "escalations": self.escalations,
        }

    def health(self) -> dict[str, Any]:
        station = self.station_json()
        ok = self.broker["connected"] and not self.writer.failing
        return {
            "status": "ok" if ok else "degraded",
            "server_time": iso(self.clock.utcnow()),
            **station,
        }

    def snapshot(self) -> dict[str, Any]:
        return {
            "type": "snapshot",
            "server_time": iso(self.clock.utcnow()),
            "station": self.station_json(),
            "beds": self.board.beds_json(),
        }
