"""Real servers for the clinic central station tests: Mosquitto and PostgreSQL from Debian.

Each server runs from a temporary directory under /tmp on a free loopback port and is stopped
afterwards; nothing installed or running on the machine is used or touched. Every process writes
its output to a log file in its directory, and a start-up failure quotes the end of that log.

Mosquitto runs the broker configuration the product ships (deploy/mosquitto/vigil.conf with only
the listener port and file paths changed, and the ACL file copied unchanged), included from a main
configuration like Debian's /etc/mosquitto/mosquitto.conf. When the tests run as root, Mosquitto
drops its privileges to the user ``mosquitto`` as it does in production (its files are owned by
that user, mode 0600), and PostgreSQL, which refuses to run as root, runs as the user ``postgres``
through ``runuser``.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import psycopg
from paho.mqtt.client import Client, ConnectFlags, DisconnectFlags, MQTTMessage
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode, MQTTProtocolVersion
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from psycopg import sql

ROOT = Path(__file__).resolve().parents[2]
DEPLOY_MOSQUITTO = ROOT / "deploy" / "mosquitto"
SHIPPED_CONF = DEPLOY_MOSQUITTO / "vigil.conf"
SHIPPED_ACL = DEPLOY_MOSQUITTO / "acl"
MOSQUITTO = Path("/usr/sbin/mosquitto")
POSTGRESQL_LIB = Path("/usr/lib/postgresql")
IS_ROOT = os.geteuid() == 0
LOG_TAIL_LINES = 30

#: Stands in for Debian's /etc/mosquitto/mosquitto.conf (its paths are replaced like that file's).
DEBIAN_MAIN_CONF = """\
pid_file /run/mosquitto/mosquitto.pid

persistence true
persistence_location /var/lib/mosquitto/

log_dest file /var/log/mosquitto/mosquitto.log

include_dir /etc/mosquitto/conf.d
"""

#: The users of the ``mosquitto`` fixture: the central station and eight bedside units.
DEFAULT_USERS: dict[str, str] = {
    "central": "central-pw",
    **{f"bed-{n}": f"bed-{n}-pw" for n in range(1, 9)},
}


class HarnessError(RuntimeError):
    """A server of the harness could not be prepared, started or stopped."""


class MissingTool(HarnessError):
    """A Debian package the harness needs is not installed; the message says how to install it."""


# ---------------------------------------------------------------------------------------------
# Helpers


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def make_temp_dir(prefix: str) -> Path:
    """A fresh directory under /tmp, mode 0755, so that the users mosquitto and postgres can
    traverse it (pytest's tmp_path may sit below a 0700 directory)."""
    path = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    path.chmod(0o755)
    return path


def log_tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return f"(no log file {path})"
    return "\n".join(text.splitlines()[-lines:]) or f"(log file {path} is empty)"


def run_logged(
    command: Sequence[str | Path], log: Path, *, cwd: Path | None = None, timeout: float = 60
) -> None:
    """Run a command to completion with its output appended to ``log``; fail with the log tail."""
    with log.open("ab") as out:
        out.write(f"$ {' '.join(map(str, command))}\n".encode())
        out.flush()
        try:
            done = subprocess.run(
                [str(part) for part in command],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=cwd,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise HarnessError(
                f"{command[0]} timed out after {timeout} s:\n{log_tail(log)}"
            ) from exc
    if done.returncode != 0:
        raise HarnessError(
            f"{' '.join(map(str, command))} failed ({done.returncode}):\n{log_tail(log)}"
        )


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll ``condition`` every 10 ms until it holds; AssertionError naming ``what`` otherwise."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.01)


def rewrite_conf(text: str, values: Mapping[str, str | None], required: Sequence[str]) -> str:
    """Replace the value of each active (uncommented) option named in ``values``, or drop the
    line when the new value is None. Comments and all other options are kept as they are. An
    option to replace must not appear twice (e.g. a second listener would get the same port)."""
    seen: set[str] = set()
    out: list[str] = []
    for line in text.splitlines():
        words = line.split()
        if words and not words[0].startswith("#") and words[0] in values:
            key = words[0]
            value = values[key]
            if key in seen and value is not None:
                raise HarnessError(f"the Mosquitto configuration has more than one {key} line")
            seen.add(key)
            if value is not None:
                out.append(f"{key} {value}")
            continue
        out.append(line)
    missing = [key for key in required if key not in seen]
    if missing:
        raise HarnessError(f"the Mosquitto configuration has no {', '.join(missing)} line")
    return "\n".join(out) + "\n"


def _own(path: Path, user: str, mode: int) -> None:
    """chown to ``user`` (when root) and chmod."""
    if IS_ROOT:
        entry = pwd.getpwnam(user)
        os.chown(path, entry.pw_uid, entry.pw_gid)
    path.chmod(mode)


def _require_user(user: str, package: str) -> None:
    try:
        pwd.getpwnam(user)
    except KeyError:
        raise MissingTool(
            f"user {user} missing (made by the Debian package {package}): "
            f"run apt-get install {package} as root, or make test as root"
        ) from None


# ---------------------------------------------------------------------------------------------
# TLS


@dataclass(frozen=True)
class Tls:
    ca: Path
    cert: Path
    key: Path


def make_tls(
    directory: Path, dns: Sequence[str] = ("localhost",), ips: Sequence[str] = ("127.0.0.1",)
) -> Tls:
    """A throwaway CA and a server certificate it signs for ``dns`` and ``ips`` (subjectAltName),
    made with the openssl command line tool. Keys are P-256 ECDSA (fast to make), valid 2 days."""
    if shutil.which("openssl") is None:
        raise MissingTool("openssl missing: run apt-get install openssl as root, or make test")
    directory.mkdir(parents=True, exist_ok=True)
    log = directory / "openssl.log"
    ca, ca_key = directory / "ca.crt", directory / "ca.key"
    cert, key, csr = directory / "server.crt", directory / "server.key", directory / "server.csr"
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-noenc"]
    run_logged(
        [
            *("openssl", "req", "-x509", *ec, "-keyout", ca_key, "-out", ca, "-days", "2"),
            *("-subj", "/CN=Vigil test CA"),
            *("-addext", "basicConstraints=critical,CA:TRUE"),
            *("-addext", "keyUsage=critical,keyCertSign,cRLSign"),
        ],
        log,
    )
    run_logged(
        ["openssl", "req", "-new", *ec, "-keyout", key, "-out", csr, "-subj", f"/CN={dns[0]}"],
        log,
    )
    san = ",".join([*(f"DNS:{name}" for name in dns), *(f"IP:{ip}" for ip in ips)])
    extensions = directory / "server.ext"
    extensions.write_text(
        f"subjectAltName={san}\n"
        "basicConstraints=critical,CA:FALSE\n"
        "keyUsage=critical,digitalSignature\n"
        "extendedKeyUsage=serverAuth\n"
        "subjectKeyIdentifier=hash\n"
        "authorityKeyIdentifier=keyid,issuer\n"
    )
    run_logged(
        [
            *("openssl", "x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key),
            *("-set_serial", f"0x{secrets.token_hex(16)}", "-days", "2"),
            *("-extfile", extensions, "-out", cert),
        ],
        log,
    )
    return Tls(ca=ca, cert=cert, key=key)


# ---------------------------------------------------------------------------------------------
# Mosquitto


class _Server:
    """A server process in its own temporary directory: ``with`` starts it, leaving the block
    (or ``close()``) stops it, kills it if it will not stop, and removes the directory."""

    directory: Path

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def kill(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        try:
            self.stop()
        finally:
            self.kill()
            shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> Self:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class Mosquitto(_Server):
    """A real Mosquitto broker running the shipped configuration, with TLS on a free port.

    ``users`` maps user names to passwords (hashed into the password file with mosquitto_passwd).
    ``main_conf`` is the text of the main configuration that includes conf.d/vigil.conf: by
    default a copy of Debian's; its pid file, persistence location, log and include directory
    are replaced. ``tls`` reuses (copies) a CA and server certificate from ``make_tls`` instead
    of making new ones (openssl takes a few tenths of a second). The directory (configuration,
    certificates, mosquitto.db, mosquitto.log) is removed by ``close()`` / leaving the ``with``
    block.
    """

    def __init__(
        self,
        users: Mapping[str, str],
        *,
        main_conf: str = DEBIAN_MAIN_CONF,
        tls: Tls | None = None,
    ) -> None:
        for tool in ("mosquitto_passwd", "openssl"):
            if shutil.which(tool) is None:
                raise MissingTool(
                    f"{tool} missing: run apt-get install mosquitto mosquitto-clients openssl "
                    "as root, or make test as root"
                )
        if not MOSQUITTO.exists():
            raise MissingTool(
                "Mosquitto missing: run apt-get install mosquitto mosquitto-clients openssl "
                "as root, or make test as root"
            )
        if IS_ROOT:
            _require_user("mosquitto", "mosquitto")
        self.users = dict(users)
        self.directory = make_temp_dir("vigil-mosquitto-")
        self.port = free_port()
        self.log = self.directory / "mosquitto.log"
        self.process: subprocess.Popen[bytes] | None = None
        try:
            self.tls = make_tls(self.directory / "tls") if tls is None else self._copy(tls)
            self.conf = self._configure(main_conf)
        except BaseException:
            shutil.rmtree(self.directory, ignore_errors=True)
            raise

    def _copy(self, tls: Tls) -> Tls:
        directory = self.directory / "tls"
        directory.mkdir()
        for path in (tls.ca, tls.cert, tls.key):
            shutil.copyfile(path, directory / path.name)
        return Tls(
            ca=directory / tls.ca.name, cert=directory / tls.cert.name, key=directory / tls.key.name
        )

    @property
    def ca_file(self) -> Path:
        return self.tls.ca

    @property
    def host(self) -> str:
        return "127.0.0.1"

    def _configure(self, main_conf: str) -> Path:
        d = self.directory
        (d / "conf.d").mkdir()
        (d / "data").mkdir()
        _own(d / "data", "mosquitto", 0o700)
        for path in (self.tls.ca, self.tls.cert):
            path.chmod(0o644)
        _own(self.tls.key, "mosquitto", 0o600)

        passwords = d / "passwords"
        passwords.touch(mode=0o600)
        for user, password in self.users.items():
            run_logged(["mosquitto_passwd", "-b", passwords, user, password], self.log)
        _own(passwords, "mosquitto", 0o600)
        acl = d / "acl"
        shutil.copyfile(SHIPPED_ACL, acl)
        _own(acl, "mosquitto", 0o600)

        vigil_conf = rewrite_conf(
            SHIPPED_CONF.read_text(),
            {
                "listener": f"{self.port} {self.host}",
                "cafile": str(self.tls.ca),
                "certfile": str(self.tls.cert),
                "keyfile": str(self.tls.key),
                "password_file": str(passwords),
                "acl_file": str(acl),
                "persistence_location": f"{d / 'data'}/",
            },
            required=["listener", "cafile", "certfile", "keyfile", "password_file", "acl_file"],
        )
        (d / "conf.d" / "vigil.conf").write_text(vigil_conf)
        main = rewrite_conf(
            main_conf,
            {
                "pid_file": str(d / "data" / "mosquitto.pid"),
                "persistence_location": f"{d / 'data'}/",
                "log_dest": None,
                "include_dir": str(d / "conf.d"),
            },
            required=["include_dir"],
        )
        main += "\n# Added by tests/central/infra.py\nlog_dest stderr\nlog_type all\n"
        main += "log_timestamp_format %Y-%m-%dT%H:%M:%S\n"
        conf = d / "mosquitto.conf"
        conf.write_text(main)
        return conf

    def start(self, timeout: float = 10) -> None:
        if self.running:
            raise HarnessError("mosquitto is already running")
        with self.log.open("ab") as out:
            out.write(f"$ {MOSQUITTO} -c {self.conf}\n".encode())
            out.flush()
            self.process = subprocess.Popen(
                [str(MOSQUITTO), "-c", str(self.conf)],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=self.directory,
                start_new_session=True,
            )
        try:
            self.wait_ready(timeout)
        except BaseException:
            self.kill()
            raise

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def tls_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.tls.ca))

    def wait_ready(self, timeout: float = 10) -> None:
        """Wait until a TLS handshake with the listener succeeds (certificate verified)."""
        context = self.tls_context()
        deadline = time.monotonic() + timeout
        while True:
            if self.process is None or self.process.poll() is not None:
                code = None if self.process is None else self.process.returncode
                raise HarnessError(f"mosquitto exited ({code}) on start:\n{log_tail(self.log)}")
            try:
                with (
                    socket.create_connection((self.host, self.port), timeout=0.5) as raw,
                    context.wrap_socket(raw, server_hostname="localhost"),
                ):
                    return
            except (OSError, ssl.SSLError) as exc:
                if time.monotonic() > deadline:
                    raise HarnessError(
                        f"mosquitto not ready on port {self.port} after {timeout} s ({exc}):\n"
                        f"{log_tail(self.log)}"
                    ) from exc
                time.sleep(0.01)

    def stop(self, timeout: float = 10) -> None:
        """SIGTERM (Mosquitto saves mosquitto.db) and wait for the process to exit."""
        if not self.running:
            return
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise HarnessError(
                f"mosquitto ignored SIGTERM for {timeout} s:\n{log_tail(self.log)}"
            ) from None

    def kill(self) -> None:
        """SIGKILL: like a power cut for the broker (only what it had saved survives)."""
        if self.running:
            assert self.process is not None
            self.process.kill()
            self.process.wait(10)

    def restart(self) -> None:
        """Stop and start again: same port, same configuration, same mosquitto.db."""
        self.stop()
        self.start()


# ---------------------------------------------------------------------------------------------
# An MQTT v5 test client (paho-mqtt 2, its own network thread) that records what it gets


@dataclass
class Probe:
    """A paho-mqtt client over TLS that records CONNACKs, SUBACKs, PUBACKs, messages and
    disconnections; ``wait_*`` methods poll for them with a timeout."""

    client: Client
    connacks: list[ReasonCode] = field(default_factory=list)
    subacks: dict[int, list[ReasonCode]] = field(default_factory=dict)
    pubacks: dict[int, ReasonCode] = field(default_factory=dict)
    messages: list[MQTTMessage] = field(default_factory=list)
    disconnects: list[ReasonCode] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def topics(self) -> list[str]:
        with self.lock:
            return [message.topic for message in self.messages]

    def payloads(self, topic: str) -> list[bytes]:
        with self.lock:
            return [m.payload for m in self.messages if m.topic == topic]

    def wait_connack(self, timeout: float = 5) -> ReasonCode:
        wait_until(lambda: bool(self.connacks) or bool(self.disconnects), timeout, "a CONNACK")
        if not self.connacks:
            raise AssertionError(f"disconnected without a CONNACK: {self.disconnects}")
        return self.connacks[0]

    def subscribe(self, topic: str, qos: int = 1, timeout: float = 5) -> list[ReasonCode]:
        result, mid = self.client.subscribe(topic, qos)
        assert result == MQTTErrorCode.MQTT_ERR_SUCCESS and mid is not None, result
        wait_until(lambda: mid in self.subacks, timeout, f"the SUBACK for {topic}")
        return self.subacks[mid]

    def publish(
        self, topic: str, payload: bytes, qos: int = 1, retain: bool = False, timeout: float = 5
    ) -> ReasonCode:
        """Publish with QoS 1 and return the PUBACK's reason code."""
        assert qos == 1, "publish() waits for a PUBACK: use client.publish for other QoS"
        info = self.client.publish(topic, payload, qos=qos, retain=retain)
        assert info.rc == MQTTErrorCode.MQTT_ERR_SUCCESS, info.rc
        wait_until(lambda: info.mid in self.pubacks, timeout, f"the PUBACK for {topic}")
        return self.pubacks[info.mid]

    def wait_message(self, topic: str, timeout: float = 5) -> MQTTMessage:
        wait_until(lambda: topic in self.topics(), timeout, f"a message on {topic}")
        with self.lock:
            return next(m for m in self.messages if m.topic == topic)

    def wait_disconnect(self, timeout: float = 5) -> ReasonCode:
        wait_until(lambda: bool(self.disconnects), timeout, "the disconnection")
        return self.disconnects[0]

    def close(self) -> None:
        if self.client.is_connected():
            self.client.disconnect()
        self.client.loop_stop()


def probe(
    broker: Mosquitto,
    username: str | None,
    password: str | None = None,
    *,
    tls: bool = True,
    client_id: str = "",
    will: tuple[str, bytes] | None = None,
    wait: bool = True,
    **connect: Any,
) -> Probe:
    """Connect an MQTT v5 client to ``broker`` as ``username`` (with its password from
    ``broker.users`` unless given) and start its network thread; ``will`` is a (topic, payload)
    last will, QoS 1. With ``wait`` it waits for a successful CONNACK. Close it with
    ``Probe.close()``; ``connect`` goes to paho's ``Client.connect``."""
    client = Client(
        CallbackAPIVersion.VERSION2,
        client_id=client_id,
        protocol=MQTTProtocolVersion.MQTTv5,
        reconnect_on_failure=False,
    )
    recorder = Probe(client)

    def on_connect(
        _c: Client, _u: Any, _f: ConnectFlags, code: ReasonCode, _p: Properties | None
    ) -> None:
        recorder.connacks.append(code)

    def on_subscribe(
        _c: Client, _u: Any, mid: int, codes: list[ReasonCode], _p: Properties | None
    ) -> None:
        recorder.subacks[mid] = codes

    def on_publish(_c: Client, _u: Any, mid: int, code: ReasonCode, _p: Properties | None) -> None:
        recorder.pubacks[mid] = code

    def on_message(_c: Client, _u: Any, message: MQTTMessage) -> None:
        with recorder.lock:
            recorder.messages.append(message)

    def on_disconnect(
        _c: Client, _u: Any, _f: DisconnectFlags, code: ReasonCode, _p: Properties | None
    ) -> None:
        recorder.disconnects.append(code)

    client.on_connect = on_connect
    client.on_subscribe = on_subscribe
    client.on_publish = on_publish
    client.on_message = on_message
    client.on_disconnect = on_disconnect
    if username is not None:
        client.username_pw_set(username, broker.users[username] if password is None else password)
    if tls:
        client.tls_set(ca_certs=str(broker.ca_file))
    if will is not None:
        client.will_set(will[0], will[1], qos=1)
    client.connect(broker.host, broker.port, **connect)
    client.loop_start()
    if wait:
        try:
            code = recorder.wait_connack()
            if code.is_failure:
                raise AssertionError(f"{username} refused by the broker: {code}")
        except BaseException:
            recorder.close()
            raise
    return recorder


# ---------------------------------------------------------------------------------------------
# PostgreSQL


def postgres_bindir() -> Path:
    """The bin directory of the newest PostgreSQL server installed from Debian packages."""
    found = sorted(
        (path.parent for path in POSTGRESQL_LIB.glob("*/bin/postgres")),
        key=lambda path: int(path.parent.name) if path.parent.name.isdigit() else 0,
    )
    if not found or not (found[-1] / "initdb").exists():
        raise MissingTool(
            "PostgreSQL server missing: run apt-get install postgresql as root, "
            "or make test as root"
        )
    return found[-1]


class Postgres(_Server):
    """A real PostgreSQL server: initdb into a temporary directory (trust authentication),
    listening on 127.0.0.1 only, on a free port, with fsync off, and a database ``vigil``.

    As root every server command runs as the user ``postgres`` through ``runuser``. ``stop()``
    is ``pg_ctl stop -m fast``; ``close()`` / leaving the ``with`` block also removes the
    directory.
    """

    def __init__(self) -> None:
        self.bin = postgres_bindir()
        if IS_ROOT:
            if shutil.which("runuser") is None:
                raise MissingTool("runuser missing: run apt-get install util-linux as root")
            _require_user("postgres", "postgresql")
        self.directory = make_temp_dir("vigil-postgres-")
        self.data = self.directory / "data"
        self.sockets = self.directory / "sockets"
        self.sockets.mkdir()
        self.log = self.directory / "postgres.log"
        self.log.touch()
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        if IS_ROOT:
            for path in (self.directory, self.sockets, self.log):
                _own(path, "postgres", 0o755 if path.is_dir() else 0o644)

    def _command(self, tool: str, *args: str | Path) -> list[str | Path]:
        as_postgres = ["runuser", "-u", "postgres", "--"] if IS_ROOT else []
        return [*as_postgres, self.bin / tool, *args]

    @property
    def url(self) -> str:
        """SQLAlchemy URL of the database ``vigil``."""
        return self.database_url("vigil")

    def database_url(self, name: str) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{name}"

    def connect(self, dbname: str = "postgres") -> psycopg.Connection[Any]:
        """A psycopg connection in autocommit mode (CREATE/DROP DATABASE need it)."""
        return psycopg.connect(
            host="127.0.0.1",
            port=self.port,
            user="postgres",
            dbname=dbname,
            autocommit=True,
            connect_timeout=2,
        )

    def start(self, timeout: float = 30) -> None:
        if self.running:
            raise HarnessError("postgres is already running")
        first = not self.data.exists()
        if first:
            run_logged(
                self._command(
                    "initdb",
                    *("-D", self.data, "--auth=trust", "--username=postgres"),
                    *("--encoding=UTF8", "--locale=C", "--no-sync"),
                ),
                self.log,
                cwd=self.directory,
            )
        with self.log.open("ab") as out:
            command = self._command(
                "postgres",
                *("-D", self.data, "-p", str(self.port), "-k", self.sockets),
                *("-c", "listen_addresses=127.0.0.1", "-c", "fsync=off"),
                *("-c", "synchronous_commit=off", "-c", "full_page_writes=off"),
            )
            out.write(f"$ {' '.join(map(str, command))}\n".encode())
            out.flush()
            self.process = subprocess.Popen(
                [str(part) for part in command],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=self.directory,
                start_new_session=True,
            )
        try:
            self.wait_ready(timeout)
            if first:
                run_logged(
                    self._command(
                        "createdb",
                        "-h",
                        "127.0.0.1",
                        "-p",
                        str(self.port),
                        "-U",
                        "postgres",
                        "vigil",
                    ),
                    self.log,
                    cwd=self.directory,
                )
        except BaseException:
            self.kill()
            raise

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def wait_ready(self, timeout: float = 30) -> None:
        """Wait until the server accepts a connection over TCP."""
        deadline = time.monotonic() + timeout
        while True:
            if self.process is None or self.process.poll() is not None:
                code = None if self.process is None else self.process.returncode
                raise HarnessError(f"postgres exited ({code}) on start:\n{log_tail(self.log)}")
            try:
                with self.connect():
                    return
            except psycopg.OperationalError as exc:
                if time.monotonic() > deadline:
                    raise HarnessError(
                        f"postgres not ready on port {self.port} after {timeout} s ({exc}):\n"
                        f"{log_tail(self.log)}"
                    ) from exc
                time.sleep(0.02)

    def create_database(self, name: str) -> str:
        """CREATE DATABASE ``name``; returns its SQLAlchemy URL."""
        with self.connect() as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.database_url(name)

    def drop_database(self, name: str) -> None:
        """DROP DATABASE, closing connections still open to it (e.g. an engine's pool)."""
        with self.connect() as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )

    def stop(self, timeout: float = 30) -> None:
        """``pg_ctl stop -m fast``: roll back open transactions, close connections, checkpoint.
        (The server is stopped through its pid file because ``runuser`` stands between this
        process and postgres and would turn a signal into SIGTERM, then SIGKILL.)"""
        if not self.running:
            return
        assert self.process is not None
        try:
            run_logged(
                self._command("pg_ctl", "stop", "-D", self.data, "-m", "fast", "-w"),
                self.log,
                cwd=self.directory,
                timeout=timeout,
            )
            self.process.wait(timeout)
        except (HarnessError, subprocess.TimeoutExpired):
            self.kill()
            raise

    def kill(self) -> None:
        """Immediate shutdown, like a crash: SIGQUIT to the postmaster (through its pid file),
        SIGKILL if it is still there after 10 s."""
        if not self.running:
            return
        assert self.process is not None
        try:
            postmaster: int | None = int((self.data / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            postmaster = None
        for sig in (signal.SIGQUIT, signal.SIGKILL):
            if postmaster is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(postmaster, sig)
            else:
                self.process.send_signal(sig)
            try:
                self.process.wait(10)
                return
            except subprocess.TimeoutExpired:
                continue
        self.process.kill()
        self.process.wait(10)
