"""The central's MQTT link: paho-mqtt 2 (MQTT v5, TLS, its own network thread).

paho calls back in its network thread; every callback only hands its data to the asyncio loop
with ``call_soon_threadsafe`` and returns, so the network thread never waits for the station,
and the station never touches paho's state from two threads at once. paho reconnects by itself
(back-off 1 s → 30 s), also when the very first connection fails.

The broker keeps the central's session (fixed client id, clean start off, session expiry a
week): events sent while the central restarts are queued for it and delivered when it is back.
QoS 1 messages are acknowledged by the station itself (``manual_ack``), once they are stored
(see station.py); ``ack`` ignores acknowledgements for a connection that has ended.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from paho.mqtt.client import Client, ConnectFlags, DisconnectFlags, MQTTMessage
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from service.mqtt_schema import subscriptions

log = logging.getLogger(__name__)

SESSION_EXPIRY_S = 7 * 24 * 3600
RECONNECT_MIN_S = 1
RECONNECT_MAX_S = 30


@dataclass(frozen=True, slots=True)
class Incoming:
    topic: str
    payload: bytes
    qos: int
    retain: bool
    mid: int
    #: Which connection delivered it (acknowledgements go back on that one only).
    generation: int


class _Client(Client):
    """paho's client, remembering why the last connection attempt failed (paho itself only
    calls ``on_connect_fail`` without the reason)."""

    last_error = ""

    def reconnect(self) -> MQTTErrorCode:
        try:
            return super().reconnect()
        except OSError as exc:
            self.last_error = _reason(exc)
            raise


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"TLS: {exc.verify_message or exc}"
    return str(exc) or type(exc).__name__


class BrokerLink:
    def __init__(
        self,
        *,
        host: str,
        port: int,
        username: str,
        password: str,
        client_id: str,
        clinic: str,
        ca_file: str | None,
        keepalive: int,
        loop: asyncio.AbstractEventLoop,
        on_message: Callable[[Incoming], None],
        on_state: Callable[[bool, str], None],
    ) -> None:
        self.host = host
        self.port = port
        self.clinic = clinic
        self.keepalive = keepalive
        self.loop = loop
        self._on_message = on_message
        self._on_state = on_state
        self.connected = False
        self.generation = 0
        self._closing = False
        self._waiting: dict[int, asyncio.Future[ReasonCode]] = {}
        self._early: dict[int, ReasonCode] = {}
        client = _Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=MQTTProtocolVersion.MQTTv5,
            manual_ack=True,
        )
        client.username_pw_set(username, password)
        # Raises at once for an unreadable CA file (a setting error, not a network one).
        client.tls_set(ca_certs=ca_file)
        client.reconnect_delay_set(RECONNECT_MIN_S, RECONNECT_MAX_S)
        client.on_connect = self._connected
        client.on_connect_fail = self._connect_failed
        client.on_disconnect = self._disconnected
        client.on_message = self._message
        client.on_publish = self._published
        self.client = client

    # -- lifecycle (event loop) ----------------------------------------------------------

    def start(self) -> None:
        properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        properties.SessionExpiryInterval = SESSION_EXPIRY_S
        self.client.connect_async(
            self.host, self.port, self.keepalive, clean_start=False, properties=properties
        )
        self.client.loop_start()

    def stop(self) -> None:
        """Disconnect and end the network thread (blocks up to about a second: run it in a
        worker thread)."""
        self._closing = True
        self.client.disconnect()
        self.client.loop_stop()

    # -- paho's network thread: hand over and return ---------------------------------------

    def _call(self, fn: Callable[..., None], *args: Any) -> None:
        with contextlib.suppress(RuntimeError):  # the loop has closed (shutdown)
            self.loop.call_soon_threadsafe(fn, *args)

    def _connected(
        self,
        client: Client,
        _userdata: Any,
        _flags: ConnectFlags,
        code: ReasonCode,
        _properties: Properties | None,
    ) -> None:
        if code.is_failure:
            self._call(self._set_state, False, f"refused by the broker: {code.getName()}")
            return
        # A new connection: set here, in the network thread, before any of its messages.
        self.generation += 1
        # Subscribe from here, so that every (re)connection subscribes again; the retained
        # status and state of every bed follow.
        client.subscribe(subscriptions(self.clinic))
        self._call(self._up)

    def _connect_failed(self, client: Client, _userdata: Any) -> None:
        reason = getattr(client, "last_error", "") or "connection failed"
        self._call(self._set_state, False, f"central broker unreachable: {reason}")

    def _disconnected(
        self,
        _client: Client,
        _userdata: Any,
        _flags: DisconnectFlags,
        code: ReasonCode,
        _properties: Properties | None,
    ) -> None:
        self._call(self._set_state, False, f"central broker unreachable: {code.getName()}")

    def _message(self, _client: Client, _userdata: Any, message: MQTTMessage) -> None:
        self._call(
            self._deliver,
            Incoming(
                message.topic,
                bytes(message.payload),
                message.qos,
                bool(message.retain),
                message.mid,
                self.generation,
            ),
        )

    def _published(
        self,
        _client: Client,
        _userdata: Any,
        mid: int,
        code: ReasonCode,
        _properties: Properties | None,
    ) -> None:
        self._call(self._puback, mid, code)

    # -- back on the event loop ----------------------------------------------------------

    def _up(self) -> None:
        self._set_state(True, f"connected to {self.host}:{self.port}")

    def _set_state(self, connected: bool, detail: str) -> None:
        if self._closing and not connected:
            detail = "stopped"
        was = self.connected
        self.connected = connected
        if connected != was or not connected:
            self._on_state(connected, detail)
        if not connected:
            for future in self._waiting.values():
                if not future.done():
                    future.set_exception(ConnectionError(detail))
            self._waiting.clear()
            self._early.clear()

    def _deliver(self, incoming: Incoming) -> None:
        self._on_message(incoming)

    def _puback(self, mid: int, code: ReasonCode) -> None:
        future = self._waiting.pop(mid, None)
        if future is None:
            self._early[mid] = code  # answered before publish() registered its wait
        elif not future.done():
            future.set_result(code)

    # -- used by the station (event loop) ------------------------------------------------

    def ack(self, mid: int, qos: int, generation: int) -> None:
        if qos > 0 and generation == self.generation and self.connected:
            self.client.ack(mid, qos)

    async def publish(
        self, topic: str, payload: bytes, *, expiry_s: int, timeout: float = 5.0
    ) -> None:
        """Publish with QoS 1 and wait for the broker's PUBACK; ConnectionError when there is
        no connection, no PUBACK in time, or the broker refuses it."""
        if not self.connected:
            raise ConnectionError("central broker unreachable")
        properties = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
        properties.MessageExpiryInterval = expiry_s  # never delivered late to a bed
        info = self.client.publish(topic, payload, qos=1, properties=properties)
        if info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
            raise ConnectionError(f"central broker unreachable ({info.rc.name})")
        code = self._early.pop(info.mid, None)
        if code is None:
            future: asyncio.Future[ReasonCode] = self.loop.create_future()
            self._waiting[info.mid] = future
            try:
                async with asyncio.timeout(timeout):
                    code = await future
            except TimeoutError:
                self._waiting.pop(info.mid, None)
                raise ConnectionError(f"the broker did not confirm within {timeout:g} s") from None
        if code.is_failure:
            raise ConnectionError(f"refused by the broker: {code.getName()}")
