"""Storage per infusion session and per clinic-year, and start-up time to the first reading.

Storage: one bed (an emulated GE CARESCAPE monitor and a B. Braun pump) is monitored through a
whole 2.5 h session — open, start, notes, end, discharge through the API — with the simulator
running ``speed`` times faster than real time. The database's pages are counted per table with
SQLite's ``dbstat``. The pump is polled by the service every 5 s of *real* time, so an
accelerated run stores ``speed`` times too few pump readings: that table is scaled to the 1,800
polls a real 2.5 h session makes. A clinic-year is 6 chairs × 3 sessions a day × 250 days.

Start-up: from starting ``vigil serve`` (an emulated Masimo already sending a line a second) to
the first reading served by ``GET /readings/latest``; the median of several starts.
"""

from __future__ import annotations

import sqlite3
import statistics
import time
from dataclasses import dataclass

import httpx

from bench.system import Service, Simulator, wait, workdir

SESSION_H = 2.5
PUMP_POLL_S = 5.0
SESSIONS_PER_YEAR = 6 * 3 * 250


@dataclass
class Storage:
    bytes_per_session: float
    by_table: dict[str, float]  # bytes per session
    rows: dict[str, int]
    mb_per_year: float
    startup_s: list[float]

    @property
    def startup_median_s(self) -> float:
        return statistics.median(self.startup_s)


def _table_bytes(db: str) -> tuple[dict[str, int], dict[str, int]]:
    con = sqlite3.connect(db)
    try:
        pages = dict(con.execute("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name").fetchall())
        names = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        rows = {n: con.execute(f'SELECT COUNT(*) FROM "{n}"').fetchone()[0] for n in names}
        # Indexes belong to their table.
        for name, table in con.execute(
            "SELECT name, tbl_name FROM sqlite_master WHERE type='index'"
        ).fetchall():
            if name in pages:
                pages[table] = pages.get(table, 0) + pages.pop(name)
    finally:
        con.close()
    return pages, rows


def _real_pump_rate(db: str, polls: int) -> None:
    """Copy the stored pump readings (new ids, same content) up to what ``polls`` real-time
    polls would have stored: the accelerated run cannot poll faster than the service does."""
    con = sqlite3.connect(db)
    try:
        cols = [r[1] for r in con.execute("PRAGMA table_info(pump_readings)") if r[1] != "id"]
        names = ", ".join(cols)
        count = con.execute("SELECT COUNT(*) FROM pump_readings").fetchone()[0]
        while 0 < count < polls:
            con.execute(
                f"INSERT INTO pump_readings ({names}) SELECT {names} FROM pump_readings "
                f"ORDER BY id LIMIT {polls - count}"
            )
            count = con.execute("SELECT COUNT(*) FROM pump_readings").fetchone()[0]
        con.commit()
    finally:
        con.close()


def session_storage(speed: float = 100.0) -> tuple[float, dict[str, float], dict[str, int]]:
    with workdir("storage") as tmp:
        service = Service(tmp / "data", [])
        service.start()  # an empty database with its tables and the benchmark user
        service.stop()
        empty, _ = _table_bytes(str(tmp / "data" / "vigil.db"))
        sim = Simulator(tmp / "links", 1, "ge-dri", "bbraun-bcc", speed=speed)
        service = Service(tmp / "data", sim.specs("bed"), port=service.port)
        try:
            service.start()
            client = httpx.Client(base_url=service.url, headers={"Cookie": service.cookie()})
            plan = {"patient": "P-BENCH", "weight_kg": 72, "dose_mg_per_kg": 0.5,
                    "concentration_mg_ml": 0.5, "duration_min": 40}  # fmt: skip
            sid = client.post("/api/v1/sessions", json=plan).json()["id"]
            reason = {"override_reason": "benchmark"}
            run_s = SESSION_H * 3600 / speed
            t0 = time.perf_counter()
            for at, action in ((0.1, "start"), (0.5, "end-infusion")):
                time.sleep(max(0.0, t0 + at * run_s - time.perf_counter()))
                client.post(f"/api/v1/sessions/{sid}/{action}", json=reason).raise_for_status()
                client.post(f"/api/v1/sessions/{sid}/notes", json={"kind": "nausea"})
            time.sleep(max(0.0, t0 + run_s - time.perf_counter()))
            client.post(f"/api/v1/sessions/{sid}/discharge", json=reason).raise_for_status()
        finally:
            service.stop()
            sim.stop()
        db = str(tmp / "data" / "vigil.db")
        _, rows = _table_bytes(db)
        _real_pump_rate(db, round(SESSION_H * 3600 / PUMP_POLL_S))
        pages, _ = _table_bytes(db)
    by_table = {t: float(b - empty.get(t, 0)) for t, b in pages.items()}
    by_table = {t: b for t, b in by_table.items() if b > 0}
    return sum(by_table.values()), by_table, rows


def startup(runs: int = 5) -> list[float]:
    times = []
    with workdir("startup") as tmp:
        sim = Simulator(tmp / "links", 1, "masimo-ascii", "none")
        try:
            for i in range(runs):
                service = Service(tmp / f"data-{i}", sim.specs("bed"))
                service.start(wait_ready=False)
                try:
                    cookie = wait(_login(service), 60, "sign-in")

                    def reading(cookie: str = cookie, service: Service = service) -> bool:
                        r = httpx.get(
                            f"{service.url}/api/v1/readings/latest",
                            headers={"Cookie": cookie},
                            timeout=2,
                        )
                        return bool(r.json().get("vitals"))

                    wait(reading, 60, "the first reading", step=0.01)
                    times.append(time.perf_counter() - service.started)
                finally:
                    service.stop()
        finally:
            sim.stop()
    return times


def _login(service: Service):  # type: ignore[no-untyped-def]
    def attempt() -> str | None:
        try:
            return service.cookie()
        except httpx.HTTPError:
            return None

    return attempt


def measure(speed: float = 100.0, startups: int = 5) -> Storage:
    total, by_table, rows = session_storage(speed)
    return Storage(
        bytes_per_session=total,
        by_table=by_table,
        rows=rows,
        mb_per_year=total * SESSIONS_PER_YEAR / 1e6,
        startup_s=startup(startups),
    )


if __name__ == "__main__":
    print(measure(startups=3))
