"""The bedside unit's link to the clinic central station over MQTT (schema v1: docs/mqtt.md,
encoded and parsed by service/mqtt_schema.py).

Autonomy first: the bed alarms by itself whatever happens here. This module only *reports*:

* Alarm transitions and command results go through an on-disk outbox (``central_outbox`` in the
  bed's own database, service/link/outbox.py) before they are published with QoS 1; a row leaves
  the outbox when the broker acknowledges it (PUBACK). After a reconnect everything still in the
  outbox is sent again in sequence order; the central stores each ``<bed>/<seq>`` once, so a
  resend is never a duplicate there.
* The bed's state (retained), its latest vitals (QoS 0, rate-limited) and a heartbeat are sent
  while connected and simply skipped while not.
* Losing the broker raises the MEDIUM technical alarm "central link lost" (a ``ServiceFault``);
  it ends when the link is back.

The uplink knows the bed only through ``UplinkHost``: the few things it reads and calls (the
bedside ``Runtime`` is one), so it never imports the runtime and the runtime imports it only
when a central is set up.

The paho-mqtt client runs its own network thread; its callbacks only hand over to the event
loop (``call_soon_threadsafe``). Database work runs in worker threads. Nothing here is awaited
by the alarm path: the uplink reads the bus like any other subscriber.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import ssl
from datetime import datetime
from typing import Any, Protocol

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import Engine

from drivers.clock import Clock
from drivers.readings import VitalReading
from service import mqtt_schema as schema
from service import serialize
from service.alarms.model import AlarmTransition, Priority, ServiceFault
from service.bus import EventBus, Overflow
from service.events import BusEvent
from service.link.outbox import outbox_after, outbox_append, outbox_delete, outbox_size
from service.settings import CentralLink

log = logging.getLogger(__name__)

FAULT = "central"
#: Events published per round while the broker is reachable; the rest wait in the outbox.
BATCH = 200
#: Unacknowledged QoS 1 messages paho keeps in flight at once.
IN_FLIGHT = 50
#: The software version a bed reports in ``up/status``.
SOFTWARE_VERSION = "0.1.0"


class BedSettings(Protocol):
    @property
    def bed(self) -> str: ...


class UplinkHost(Protocol):
    """What the uplink needs from the bed (the bedside ``Runtime`` fits)."""

    @property
    def settings(self) -> BedSettings:
        """The bed's settings: its name."""
        ...

    @property
    def clock(self) -> Clock: ...

    @property
    def db(self) -> Engine:
        """The bed's database, which holds the outbox."""
        ...

    @property
    def bus(self) -> EventBus[BusEvent]:
        """Alarm transitions and readings to report (the uplink subscribes)."""
        ...

    def publish(self, event: BusEvent) -> None:
        """Put an event on the bus (the "central link lost" technical alarm)."""
        ...

    def snapshot(self) -> dict[str, Any]:
        """The bed's live state in the live socket's snapshot shape (``vitals``, ``alarms``,
        ``infusion``, ``devices``): the retained ``up/state``."""
        ...

    async def acknowledge(self, alarm_id: str, user: str) -> object:
        """Acknowledge a shown alarm for ``user`` (a nurse at the central); KeyError when no
        alarm with that id is shown."""
        ...


# -- the link --------------------------------------------------------------------------------


class Uplink:
    def __init__(self, host: UplinkHost, settings: CentralLink) -> None:
        self.host = host
        self.settings = settings
        self.bed = host.settings.bed
        self.clinic = settings.clinic
        self.db = host.db
        self.connected = False
        self.sent = 0  # events acknowledged by the broker since start
        self.dropped = 0  # events dropped because the outbox was full
        self.queued = 0  # outbox size, as last counted
        self._loop: asyncio.AbstractEventLoop | None = None
        self._client: mqtt.Client | None = None
        self._wake = asyncio.Event()
        self._pending: dict[int, int] = {}  # paho message id -> outbox seq
        self._acked: list[int] = []
        self._cursor = 0  # highest seq handed to paho on this connection
        self._generation = 0  # connections so far (a batch read before a reconnect is stale)
        self._dirty = True
        self._vitals: dict[tuple[str, str], dict[str, Any]] = {}
        self._fault_raised = False
        self._sub = host.bus.subscribe(
            "central-uplink",
            Overflow.KEEP_ALL,
            accept=lambda e: not isinstance(e, ServiceFault) or e.name != FAULT,
        )

    # -- lifecycle ------------------------------------------------------------------------

    def _topic(self, leaf: str) -> str:
        return schema.topic(self.clinic, self.bed, leaf)

    def _status(self, online: bool) -> str:
        now = self.host.clock.utcnow()
        return schema.encode_status(self.bed, online, now, SOFTWARE_VERSION)

    def _make_client(self) -> mqtt.Client:
        s = self.settings
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"vigil-{self.clinic}-{self.bed}",
            protocol=mqtt.MQTTv5,
        )
        client.username_pw_set(s.username or self.bed, s.secret())
        if s.tls:
            context = ssl.create_default_context(cafile=str(s.ca_file) if s.ca_file else None)
            client.tls_set_context(context)
        client.will_set(self._topic("up/status"), self._status(False), qos=1, retain=True)
        client.reconnect_delay_set(min_delay=1, max_delay=int(s.reconnect_max_s))
        client.max_inflight_messages_set(IN_FLIGHT)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        client.on_message = self._on_message
        return client

    async def run(self) -> None:
        """The uplink's tasks; cancelled at shutdown (then ``close`` says goodbye)."""
        self._loop = asyncio.get_running_loop()
        self.queued = await asyncio.to_thread(outbox_size, self.db)
        self._client = self._make_client()
        self._client.connect_async(
            self.settings.host, self.settings.port, keepalive=int(self.settings.keepalive_s)
        )
        self._client.loop_start()
        tasks = [
            asyncio.create_task(self._collect(), name="uplink-collect"),
            asyncio.create_task(self._deliver(), name="uplink-deliver"),
            asyncio.create_task(self._periodic(), name="uplink-periodic"),
            asyncio.create_task(self._watch_first_connect(), name="uplink-first-connect"),
        ]
        try:
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            self.close()

    def close(self) -> None:
        """A clean goodbye: offline status (retained), then disconnect. Idempotent."""
        client, self._client = self._client, None
        if client is None:
            return
        with contextlib.suppress(Exception):
            if self.connected:
                info = client.publish(self._topic("up/status"), self._status(False), 1, True)
                info.wait_for_publish(timeout=2)
            client.disconnect()
        client.loop_stop()
        self._sub.close()

    # -- paho callbacks (network thread): hand over to the loop -------------------------------

    def _call(self, fn: Any, *args: Any) -> None:
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(fn, *args)

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        self._call(self._connected, not reason.is_failure, str(reason))

    def _on_disconnect(
        self, client: Any, userdata: Any, flags: Any, reason: Any, props: Any
    ) -> None:
        self._call(self._disconnected, str(reason))

    def _on_publish(self, client: Any, userdata: Any, mid: int, reason: Any, props: Any) -> None:
        self._call(self._published, mid, not reason.is_failure, str(reason))

    def _on_message(self, client: Any, userdata: Any, message: mqtt.MQTTMessage) -> None:
        self._call(self._command, message.topic, bytes(message.payload))

    # -- on the loop -----------------------------------------------------------------------

    def _fault(self, active: bool, detail: str) -> None:
        if active == self._fault_raised:
            return
        self._fault_raised = active
        fault = ServiceFault(FAULT, active, detail, self.host.clock.utcnow(), Priority.MEDIUM)
        self.host.publish(fault)

    def _connected(self, ok: bool, reason: str) -> None:
        client = self._client
        if client is None:
            return
        if not ok:
            log.error("central broker refused the connection: %s", reason)
            self._fault(True, f"central link lost: broker refused ({reason})")
            return
        log.info("central link up (%s:%d)", self.settings.host, self.settings.port)
        self.connected = True
        self._generation += 1
        self._pending.clear()
        self._cursor = 0  # resend everything still in the outbox, in order
        client.publish(self._topic("up/status"), self._status(True), qos=1, retain=True)
        client.subscribe(self._topic("cmd/#"), qos=1)
        self._dirty = True
        self._fault(False, "central link restored")
        self._wake.set()

    def _disconnected(self, reason: str) -> None:
        if self._client is None:
            return
        was = self.connected
        self.connected = False
        if was:
            log.error("central link lost: %s", reason)
        self._fault(True, f"central link lost ({self.settings.host}:{self.settings.port})")

    def _published(self, mid: int, ok: bool, reason: str) -> None:
        seq = self._pending.pop(mid, None)
        if seq is None:
            return
        if ok:
            self._acked.append(seq)
            self._wake.set()
        else:
            log.error("central broker refused event %d: %s", seq, reason)

    async def _watch_first_connect(self) -> None:
        """No connection within the first ``connect_timeout_s``: that too is a lost link."""
        await asyncio.sleep(self.settings.connect_timeout_s)
        if not self.connected:
            self._fault(True, f"central link lost ({self.settings.host}:{self.settings.port})")

    # -- what the bed reports ----------------------------------------------------------------

    async def _collect(self) -> None:
        """Bus events: alarm transitions into the outbox; vitals and state changes noted."""
        while True:
            events = [await self._sub.get(), *self._sub.drain()]
            rows: list[tuple[str, datetime, str]] = []
            for event in events:
                self._dirty = True
                if isinstance(event, AlarmTransition):
                    data = json.dumps(serialize.transition(event))
                    rows.append((schema.ALARM, event.at, data))
                elif isinstance(event, VitalReading):
                    self._vitals[(event.source, event.metric.value)] = serialize.vital(event)
            if rows:
                await self._append(rows)

    async def _append(self, rows: list[tuple[str, datetime, str]]) -> None:
        dropped = await asyncio.to_thread(outbox_append, self.db, rows, self.settings.outbox_limit)
        if dropped:
            self.dropped += dropped
            log.error("central outbox full: dropped the %d oldest events", dropped)
        self.queued += len(rows) - dropped
        self._wake.set()

    async def _deliver(self) -> None:
        """Publish the outbox in sequence order while connected; forget what the broker has."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            if self._acked:
                done, self._acked = self._acked, []
                await asyncio.to_thread(outbox_delete, self.db, done)
                self.sent += len(done)
                self.queued = max(0, self.queued - len(done))
            client = self._client
            want = IN_FLIGHT - len(self._pending)
            if client is None or not self.connected or want <= 0:
                continue  # woken again by the next acknowledgement or connection
            generation = self._generation
            batch = await asyncio.to_thread(outbox_after, self.db, self._cursor, want)
            if generation != self._generation or not self.connected:
                self._wake.set()  # reconnected meanwhile: start again from the outbox's head
                continue
            for item in batch:
                body = schema.encode_event(
                    self.bed, item.seq, item.kind, item.at, json.loads(item.payload)
                )
                info = client.publish(self._topic("up/events"), body, qos=1)
                if info.rc != mqtt.MQTT_ERR_SUCCESS:
                    break  # the link went down: everything unacknowledged is resent later
                self._pending[info.mid] = item.seq
                self._cursor = item.seq
            else:
                if len(batch) == want:
                    self._wake.set()  # the outbox may hold more

    async def _periodic(self) -> None:
        s = self.settings
        loop = asyncio.get_running_loop()
        next_state = next_vitals = next_beat = loop.time()
        while True:
            await asyncio.sleep(min(s.state_interval_s, s.vitals_interval_s, s.heartbeat_s) / 2)
            client = self._client
            if client is None or not self.connected:
                continue
            now = loop.time()
            at = self.host.clock.utcnow()
            if self._dirty and now >= next_state:
                self._dirty = False
                next_state = now + s.state_interval_s
                snap = self.host.snapshot()
                state = schema.encode_state(
                    self.bed,
                    at,
                    vitals=snap.get("vitals", {}),
                    alarms=snap.get("alarms", []),
                    infusion=snap.get("infusion"),
                    devices=snap.get("devices", []),
                )
                client.publish(self._topic("up/state"), state, qos=1, retain=True)
            if self._vitals and now >= next_vitals:
                next_vitals = now + s.vitals_interval_s
                readings, self._vitals = list(self._vitals.values()), {}
                body = schema.encode_vitals(self.bed, at, readings)
                client.publish(self._topic("up/vitals"), body, qos=0)
            if now >= next_beat:
                next_beat = now + s.heartbeat_s
                beat = schema.encode_heartbeat(self.bed, at, self.queued)
                client.publish(self._topic("up/heartbeat"), beat, qos=0)

    # -- commands from the central --------------------------------------------------------------

    def _command(self, topic_name: str, payload: bytes) -> None:
        asyncio.get_running_loop().create_task(self._run_command(topic_name, payload))

    async def _run_command(self, topic_name: str, payload: bytes) -> None:
        command = schema.command_name(topic_name)
        try:
            ack = schema.parse_command(topic_name, payload)
        except schema.RefusedCommand as refused:
            command_id, ok, detail = refused.command_id, False, refused.detail
        except schema.BadMessage as exc:
            log.error("central command %s: unreadable payload (%s)", command, exc)
            return
        else:
            command_id = ack.command_id
            user = f"{ack.user[:32]}@central"
            try:
                await self.host.acknowledge(ack.alarm_id, user)
                ok, detail = True, f"acknowledged by {user}"
            except KeyError:
                ok, detail = False, f"no shown alarm with id {ack.alarm_id!r}"
        log.info("central command %s %s: %s", command, command_id, detail)
        result = schema.command_result(command_id, ok, detail)
        now = self.host.clock.utcnow()
        await self._append([(schema.COMMAND_RESULT, now, json.dumps(result))])
