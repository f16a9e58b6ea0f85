"""HTTP hardening on a real uvicorn server (service/api/hardening.py, docs/security.md): the
body cap, error answers that never echo input and never 5xx on malformed input, security
headers, the Host allow-list (HTTP and the live WebSocket), API docs off by default, a
/health that says little to strangers."""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fastapi.routing import APIRoute
from playwright.sync_api import expect, sync_playwright

from service.api.hardening import (
    CSP,
    DOCS_CSP,
    AllowedHosts,
    HostGuard,
    host_name,
    json_problem,
)
from service.settings import Settings
from tests.support import PINS, RunningServer, start_server
from tests.web.browsing import sign_in
from tests.web.conftest import ARGS, CHROMIUM

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
MB = 1024 * 1024
HEADERS = {
    "content-security-policy": CSP,
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """Default settings: 64 KiB body cap, the default host list, no API docs."""
    running = start_server(Settings(data_dir=Path(tmp_path_factory.mktemp("hard")) / "data"))
    yield running
    running.stop()


@pytest.fixture(scope="module")
def configured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """An explicit host list and the API docs on."""
    settings = Settings(
        data_dir=Path(tmp_path_factory.mktemp("hard-configured")) / "data",
        allowed_hosts=["vigil.example", "tablet-gw.example:8443"],
        api_docs=True,
    )
    running = start_server(settings)
    yield running
    running.stop()


# -- raw HTTP, for what httpx cannot send -------------------------------------------------


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes
    seconds: float  # from the first byte sent to the whole answer read
    sent: int  # body bytes the client managed to send before the server stopped reading


def raw_request(
    port: int,
    head: str,
    chunks: Iterable[bytes] = (),
    *,
    chunked: bool = False,
    timeout: float = 20.0,
) -> Answer:
    """Send ``head`` (request line and headers, no final blank line) and stream ``chunks`` as
    the body from a second thread while the answer is read, as a client that sends a large
    body does. The server may answer, and close, long before the body is all sent."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    sent = 0
    started = time.monotonic()

    def pump() -> None:
        nonlocal sent
        try:
            for chunk in chunks:
                sock.sendall(b"%x\r\n%b\r\n" % (len(chunk), chunk) if chunked else chunk)
                sent += len(chunk)
            if chunked:
                sock.sendall(b"0\r\n\r\n")
        except OSError:
            pass  # the server answered and closed the connection: the point of the test

    sock.sendall(head.encode("latin-1") + b"\r\n")
    sender = threading.Thread(target=pump, name="raw-body", daemon=True)
    sender.start()
    data = b""
    try:
        while b"\r\n\r\n" not in data or len(data) < _expected_length(data):
            part = sock.recv(65536)
            if not part:
                break
            data += part
    except ConnectionResetError:
        pass  # a reset after the answer (the rest of the body was refused)
    seconds = time.monotonic() - started
    sock.close()
    sender.join(timeout=timeout)
    assert not sender.is_alive(), "the client was still sending: the server read on"
    head_part, _, body = data.partition(b"\r\n\r\n")
    lines = head_part.decode("latin-1").split("\r\n")
    assert lines[0].startswith("HTTP/1.1 "), data[:200]
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return Answer(int(lines[0].split()[1]), headers, body, seconds, sent)


def _expected_length(data: bytes) -> int:
    head, sep, _ = data.partition(b"\r\n\r\n")
    match = re.search(rb"(?im)^content-length:\s*(\d+)", head)
    return len(head) + len(sep) + (int(match.group(1)) if match else 0)


def vm_rss() -> int:
    """This process's resident memory in bytes (the server runs in a thread of it)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS in /proc/self/status")


def two_hundred_mb() -> Iterator[bytes]:
    """200 MiB of body, 64 KiB at a time: the test never holds more than one chunk."""
    chunk = b"x" * 65536
    for _ in range(200 * MB // len(chunk)):
        yield chunk


# -- 1. request body cap ----------------------------------------------------------------------


def post_head(port: int, path: str, content_type: str, length: int | None) -> str:
    framing = "Transfer-Encoding: chunked" if length is None else f"Content-Length: {length}"
    return (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Content-Type: {content_type}\r\n{framing}\r\n"
    )


@pytest.mark.parametrize(
    ("chunked", "content_type"),
    [
        (False, "application/json"),  # declared: 413 before a byte of the body is read
        (True, "application/json"),  # streamed: counted while it arrives, cut at the cap
        (True, "text/plain"),  # not JSON: FastAPI reads it, still cut at the cap
    ],
    ids=["content-length", "chunked-json", "chunked-text"],
)
def test_a_200_mb_body_is_refused_at_the_cap_without_memory_growth(
    server: RunningServer, chunked: bool, content_type: str
) -> None:
    server.login("sitter").get("/api/v1/auth/me")  # warm the server up before measuring
    before = vm_rss()
    length = None if chunked else 200 * MB
    head = post_head(server.port, "/api/v1/auth/login", content_type, length)
    answer = raw_request(server.port, head, two_hundred_mb(), chunked=chunked)
    grown = vm_rss() - before

    assert answer.status == 413
    assert json.loads(answer.body) == {"detail": "request body larger than 65536 bytes"}
    assert answer.headers["connection"] == "close"  # the rest of the body is never read
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.seconds < 5, answer.seconds
    assert answer.sent < 40 * MB, f"{answer.sent / MB:.0f} MiB went in before the 413"
    assert grown < 20 * MB, f"RSS grew by {grown / MB:.1f} MiB"
    # The server is fine afterwards.
    assert httpx.get(f"{server.url}/api/v1/health").json()["bed"] == "bed-1"


def test_a_declared_length_over_the_cap_is_refused_before_any_body_is_sent(
    server: RunningServer,
) -> None:
    head = post_head(server.port, "/api/v1/auth/login", "application/json", 65537)
    answer = raw_request(server.port, head)  # no body at all: the answer must not wait for it
    assert answer.status == 413 and answer.seconds < 2
    # Also on a route that never reads a body.
    get = (
        f"GET /api/v1/health HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nContent-Length: {MB}\r\n"
    )
    assert raw_request(server.port, get).status == 413


def test_a_body_a_route_does_not_read_ends_the_connection(server: RunningServer) -> None:
    """``GET /health`` never reads a body: its answer closes the connection, so the rest of a
    streamed body is not received (and thrown away) for as long as the client sends."""
    head = f"GET /api/v1/health HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
    head += "Transfer-Encoding: chunked\r\n"
    answer = raw_request(server.port, head, two_hundred_mb(), chunked=True)
    assert answer.status == 200 and answer.headers["connection"] == "close"
    assert answer.sent < 40 * MB, f"{answer.sent / MB:.0f} MiB went in"


def test_a_body_at_the_cap_is_read_and_a_bad_content_length_is_400(
    server: RunningServer,
) -> None:
    padded = json.dumps({"username": "sitter", "pin": PINS["sitter"], "pad": ""})
    body = padded[:-2] + " " * (65536 - len(padded)) + '"}'
    assert len(body) == 65536
    answer = httpx.post(
        f"{server.url}/api/v1/auth/login",
        content=body,
        headers={"content-type": "application/json"},
    )
    assert answer.status_code == 200, answer.text  # read, parsed, signed in
    bad = post_head(server.port, "/api/v1/auth/login", "application/json", None)
    bad = bad.replace("Transfer-Encoding: chunked", "Content-Length: 12abc")
    assert raw_request(server.port, bad).status == 400


# -- 2. error answers never echo input; malformed input never 5xx -------------------------


SECRET = "Sekr3t-Marker"


def assert_no_echo(response: httpx.Response) -> None:
    assert SECRET not in response.text, response.text
    detail = response.json()["detail"]
    if isinstance(detail, list):
        for error in detail:
            assert set(error) == {"loc", "msg", "type"}, error


def test_a_422_says_which_field_and_why_but_never_the_value(server: RunningServer) -> None:
    anyone = httpx.Client(base_url=server.url)
    cases = [
        {"username": SECRET * 10, "pin": "1"},  # too long
        {"username": ["x"], "pin": {SECRET: SECRET}},  # wrong types
        {"username": "x"},  # missing pin
    ]
    for body in cases:
        response = anyone.post("/api/v1/auth/login", json=body)
        assert response.status_code == 422
        assert_no_echo(response)
    long_name = anyone.post("/api/v1/auth/login", json=cases[0]).json()["detail"]
    assert long_name == [
        {
            "loc": ["body", "username"],
            "msg": "String should have at most 32 characters",
            "type": "string_too_long",
        }
    ]
    admin = server.login("admin")
    role = admin.post(
        "/api/v1/users", json={"username": "newuser", "pin": "123456", "role": SECRET}
    )
    assert role.status_code == 422 and role.json()["detail"][0]["loc"] == ["body", "role"]
    assert_no_echo(role)
    query = admin.get("/api/v1/alarms/log", params={"limit": SECRET})
    assert query.status_code == 422
    assert_no_echo(query)


MALFORMED = [
    ("NaN", b'{"username": "a", "pin": NaN}', "application/json", "NaN"),
    ("Infinity", b'{"username": "a", "pin": -Infinity}', "application/json", "Infinity"),
    ("1e999", b'{"username": "a", "pin": 1e999}', "application/json", "too large"),
    ("lone surrogate", b'{"username": "\\ud800", "pin": "1"}', "application/json", "surrogate"),
    ("latin-1", '{"username": "\xe9", "pin": "1"}'.encode("latin-1"), "application/json", "UTF-8"),
    ("UTF-16", '{"username": "a"}'.encode("utf-16"), "application/json", "UTF-8"),
    ("truncated", b'{"username": "a", "pin": ', "application/json", "not valid JSON"),
    ("deep", b"[" * 60000, "application/json", "not valid JSON"),
    ("wrong type", b"username=a&pin=1", "application/x-www-form-urlencoded", "dictionary"),
    ("no type", b'{"username": "a", "pin": "1"}', "", "dictionary"),
    ("binary text", b"\xff\xfe\x00\x81" * 8, "text/plain", "dictionary"),
    ("ld+json", b'{"username": NaN}', "application/ld+json", "NaN"),
]


@pytest.mark.parametrize(
    ("body", "content_type", "named"),
    [case[1:] for case in MALFORMED],
    ids=[case[0] for case in MALFORMED],
)
def test_malformed_bodies_get_a_422_that_names_the_problem(
    server: RunningServer, body: bytes, content_type: str, named: str
) -> None:
    headers = {"content-type": content_type} if content_type else {}
    for client in (httpx.Client(base_url=server.url), server.login("nurse")):
        for path in ("/api/v1/auth/login", "/api/v1/alarms/limits"):
            method = "PUT" if path.endswith("limits") else "POST"
            response = client.request(method, path, content=body, headers=headers)
            if path.endswith("limits") and "vigil_session" not in client.cookies:
                # Unreadable JSON is refused before anything else; the rest needs a sign-in.
                assert response.status_code in (401, 422), response.text
                continue
            assert response.status_code == 422, (path, response.text)
            messages = " ".join(e["msg"] for e in response.json()["detail"])
            assert named in messages, messages


def test_nan_and_huge_values_elsewhere_are_422_not_500(server: RunningServer) -> None:
    nurse = server.login("nurse")
    checks = [
        nurse.put("/api/v1/alarms/limits", content=b'{"limits": {"spo2_low": NaN}}',
                  headers={"content-type": "application/json"}),
        nurse.get("/api/v1/readings/history", params={"minutes": "nan"}),
        nurse.get("/api/v1/readings/history", params={"minutes": "inf"}),
        nurse.get("/api/v1/alarms/log", params={"limit": "1" * 40}),
        nurse.get("/api/v1/sessions/123456789012345678901234"),
        nurse.get(f"/api/v1/sessions/{2**63}/report.pdf"),
        nurse.get("/api/v1/sessions/0"),
        nurse.get("/api/v1/sessions/-5/trends"),
        nurse.get("/api/v1/sessions/abc"),
        nurse.post("/api/v1/sessions/99999999999999999999/notes", json={"kind": "other"}),
        nurse.post("/api/v1/alarms/" + "a" * 300 + "/acknowledge", json={}),
    ]  # fmt: skip
    as_json = {"content-type": "application/json"}
    admin = server.login("admin")
    checks += [  # each was a 500 before (the 422 could not render the value, or SQLite failed)
        nurse.post("/api/v1/audio/pause", content=b'{"seconds": NaN}', headers=as_json),
        nurse.post("/api/v1/sessions", headers=as_json, content=b'{"patient": "P", '
                   b'"weight_kg": NaN, "dose_mg_per_kg": 1, "concentration_mg_ml": 1, '
                   b'"duration_min": 1}'),
        nurse.post("/api/v1/sessions/1/notes", content=b'{"kind": "other", "text": "\\ud800"}',
                   headers=as_json),
        admin.post("/api/v1/users", headers=as_json, content=b'{"username": "ab", '
                   b'"pin": "12345678", "role": "sitter", "display_name": "\\udc00"}'),
    ]  # fmt: skip
    for response in checks:
        assert response.status_code == 422, (response.request.url, response.text)
        assert_no_echo(response)
    # The largest id SQLite stores is a valid id: simply not found.
    assert nurse.get(f"/api/v1/sessions/{2**63 - 1}").status_code == 404


def test_an_unhandled_exception_is_a_plain_500_without_details(server: RunningServer) -> None:
    def explode() -> None:
        raise RuntimeError(f"internal detail {SECRET}")

    routes = server.app.router.routes
    route = APIRoute("/api/v1/test-explode", explode, methods=["GET"])
    routes.insert(0, route)
    try:
        response = httpx.get(f"{server.url}/api/v1/test-explode")
    finally:
        routes.remove(route)
    assert response.status_code == 500
    assert response.json() == {"detail": "internal error"}
    assert response.headers["content-security-policy"] == CSP  # outside Starlette's handler
    assert response.headers["cache-control"] == "no-store"


def test_json_problem_unit() -> None:
    assert json_problem(b'{"a": [1, 2.5, "\\u00e9", {"b": null}]}') is None
    assert json_problem(b'{"\\udfff": 1}') is not None  # keys too
    assert json_problem(b'{"a": 1e308}') is None
    assert json_problem(b"NaN") is not None


# -- 3. security headers, Host allow-list, docs, /health -----------------------------------


def test_every_answer_has_the_security_headers(server: RunningServer) -> None:
    anyone = httpx.Client(base_url=server.url)
    answers = {
        "page": anyone.get("/"),
        "script": anyone.get("/js/main.js"),
        "health": anyone.get("/api/v1/health"),
        "401": anyone.get("/api/v1/readings/latest"),
        "404": anyone.get("/no-such-page"),
        "api 404": anyone.get("/api/v1/sessions/current", headers=server.cookie_header()),
        "422": anyone.post("/api/v1/auth/login", json={}),
        "413": anyone.post("/api/v1/auth/login", content=b"x" * 70000),
        "421": anyone.get("/api/v1/health", headers={"host": "evil.example"}),
        "openapi": anyone.get("/openapi.json"),
    }
    for name, response in answers.items():
        for header, value in HEADERS.items():
            assert response.headers.get(header) == value, (name, header)
        api = response.request.url.path.startswith("/api/")
        assert (response.headers.get("cache-control") == "no-store") == api, name
    assert answers["page"].status_code == 200 and answers["script"].status_code == 200
    assert "frame-ancestors 'none'" in CSP and "object-src 'none'" in CSP
    assert "'unsafe-inline'" not in CSP and "'unsafe-eval'" not in CSP


def test_the_pages_have_nothing_inline_that_the_csp_blocks() -> None:
    """No inline script, event handler attribute or style attribute in the pages, and no
    script that writes a style attribute or HTML with one (CSSOM ``el.style.x = ...`` is fine
    under the CSP)."""
    for page in (ROOT / "web/index.html", ROOT / "web/central/index.html"):
        html = page.read_text()
        for tag in re.findall(r"<script\b[^>]*>", html):
            assert "src=" in tag, (page.name, tag)
        for content in re.findall(r"<script\b[^>]*>(.*?)</script>", html, re.S):
            assert not content.strip(), (page.name, content[:80])
        assert not re.search(r"\sstyle\s*=", html), page
        assert not re.search(r"\son[a-z]+\s*=", html), page
        assert "<style" not in html, page
    scripts = [*(ROOT / "web/js").glob("*.js"), *(ROOT / "web/central/js").glob("*.js")]
    for script in scripts:
        text = script.read_text()
        assert not re.search(r"setAttribute\(\s*['\"]style['\"]", text), script.name
        assert not re.search(r"style=", text), script.name
        assert "eval(" not in text and "new Function" not in text, script.name


def test_a_foreign_host_name_gets_421(server: RunningServer) -> None:
    hostname = socket.gethostname().lower()
    short = hostname.split(".")[0]
    allowed = [
        f"127.0.0.1:{server.port}",
        f"localhost:{server.port}",
        "localhost",
        f"[::1]:{server.port}",
        f"{hostname}:{server.port}",
        f"{short}.local",
        f"{short}.local.",
        f"LOCALHOST:{server.port}",
    ]
    for host in allowed:
        response = httpx.get(f"{server.url}/api/v1/health", headers={"host": host})
        assert response.status_code == 200, host
    for host in ["evil.example", f"evil.example:{server.port}", "127.0.0.1.evil.example",
                 "localhost@evil.example", "10.1.2.3", "[::2]", "bad host"]:  # fmt: skip
        response = httpx.get(f"{server.url}/api/v1/health", headers={"host": host})
        assert response.status_code == 421, host
        assert response.json() == {"detail": HostGuard.REASON}
        assert "evil" not in response.text


def ws_handshake(server: RunningServer, host: str, cookie: str = "") -> Answer:
    head = (
        f"GET /api/v1/live HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        f"Sec-WebSocket-Version: 13\r\n{cookie}"
    )
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    sock.sendall(head.encode() + b"\r\n")
    data = b""
    while b"\r\n\r\n" not in data:
        part = sock.recv(4096)
        if not part:
            break
        data += part
    sock.close()
    status = int(data.split(b" ", 2)[1])
    return Answer(status, {}, data, 0.0, 0)


def test_the_live_socket_checks_the_host_too(server: RunningServer) -> None:
    cookie = f"Cookie: {server.cookie_header()['Cookie']}\r\n"
    assert ws_handshake(server, f"127.0.0.1:{server.port}", cookie).status == 101
    refused = ws_handshake(server, "evil.example", cookie)
    assert refused.status == 421 and b"allowed_hosts" in refused.body


def test_an_explicit_host_list_and_the_wildcard() -> None:
    listed = AllowedHosts.from_settings(
        Settings(allowed_hosts=["Vigil.Example", "tablet-gw.example:8443", "192.168.1.20"])
    )
    assert listed.permits("vigil.example:8000")
    assert listed.permits("tablet-gw.example")
    assert listed.permits("192.168.1.20:443")
    assert not listed.permits("localhost")  # only what is listed ...
    assert listed.permits("127.0.0.1", server=("127.0.0.1", 8000))  # ... and where it came in
    assert not listed.permits("127.0.0.2", server=("127.0.0.1", 8000))
    assert listed.permits("10.0.0.5", server=("::ffff:10.0.0.5", 8000))  # dual-stack socket
    assert listed.permits(None)  # no Host header: not a browser
    anything = AllowedHosts.from_settings(Settings(allowed_hosts=["*"]))
    assert anything.permits("evil.example") and anything.permits("")
    default = AllowedHosts.from_settings(Settings(host="10.0.0.7"))
    assert default.permits("10.0.0.7") and default.permits("::1") and default.permits("[::1]:80")
    assert not AllowedHosts.from_settings(Settings(host="0.0.0.0")).permits("0.0.0.0")
    assert host_name("[fe80::1]:8000") == "fe80::1"
    assert host_name("a.example:") is None and host_name("a/b") is None


def test_a_configured_host_list_on_a_server(configured: RunningServer) -> None:
    url = f"{configured.url}/api/v1/health"
    assert httpx.get(url, headers={"host": "vigil.example"}).status_code == 200
    assert httpx.get(url, headers={"host": "tablet-gw.example:8443"}).status_code == 200
    assert httpx.get(url).status_code == 200  # 127.0.0.1: the address it came in on
    assert httpx.get(url, headers={"host": "localhost"}).status_code == 421


def test_api_docs_are_off_by_default_and_openapi_stays(
    server: RunningServer, configured: RunningServer
) -> None:
    for path in ("/docs", "/redoc"):
        assert httpx.get(f"{server.url}{path}").status_code == 404
        on = httpx.get(f"{configured.url}{path}", headers={"host": "vigil.example"})
        assert on.status_code == 200 and "cdn.jsdelivr.net" in on.text
        assert on.headers["content-security-policy"] == DOCS_CSP
    schema = httpx.get(f"{server.url}/openapi.json").json()
    assert "/api/v1/sessions/{session_id}" in schema["paths"]
    details = schema["paths"]["/api/v1/sessions/{session_id}"]["get"]
    assert {"401", "403", "404", "413", "422"} <= set(details["responses"])
    parameter = details["parameters"][0]["schema"]
    assert parameter["minimum"] == 1 and parameter["maximum"] == 2**63 - 1


def test_health_says_only_status_and_bed_to_strangers(server: RunningServer) -> None:
    stranger = httpx.get(f"{server.url}/api/v1/health")
    assert stranger.status_code == 200
    assert set(stranger.json()) == {"status", "bed"}
    staff = server.login("sitter").get("/api/v1/health").json()
    assert {"status", "bed", "devices", "storage", "clients", "active_alarms"} <= set(staff)


# -- the CSP in a real browser --------------------------------------------------------------


@pytest.mark.browser
def test_the_bed_page_and_the_report_run_under_the_csp(server: RunningServer) -> None:
    """Chromium reports no CSP violation on the bed view (signed in, live) or the printable
    session report, and the report's inline style applies."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}: apt-get install chromium (make test does)")
    nurse = server.login("nurse")
    created = nurse.post(
        "/api/v1/sessions",
        json={"patient": "P-CSP", "weight_kg": 70, "dose_mg_per_kg": 0.5,
              "concentration_mg_ml": 1.0, "duration_min": 40},
    )  # fmt: skip
    assert created.status_code in (200, 409), created.text
    session_id = nurse.get("/api/v1/sessions/current").json()["id"]
    violations: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page()
            page.on("console", lambda m: violations.append(m.text))
            sign_in(page, server, "nurse")
            page.goto(server.url)
            expect(page.locator("#app")).to_be_visible(timeout=10_000)
            expect(page.locator("#connection")).to_have_text("Live", timeout=10_000)
            page.goto(f"{server.url}/api/v1/sessions/{session_id}/report.html")
            margin = page.evaluate("getComputedStyle(document.body).marginTop")
        finally:
            browser.close()
    assert [v for v in violations if "Content Security Policy" in v] == [], violations
    assert margin == "32px"  # 2em: the report's own <style> was applied
