#!/usr/bin/env python3
"""Slowloris against the chirp_receiver example; run by benches/slowloris.sh (python3 stdlib).

    slowloris.py BIN   # BIN: the built chirp_receiver

Phases (seconds from the start, defaults):
  0 .. BASELINE            the probe alone: latency with no attack
  BASELINE ..              wave 1: CONNS connections, each sends its request head one byte per
                           second (it never completes: ~300 bytes at 1 B/s); watched until all
                           are closed by the server or WAVE1_SECS have passed
  then                     wave 2: CONNS more, and SIGTERM HOLD seconds later, with them open;
                           the exit must come within EXIT_BOUND seconds, status 0
Throughout, a probe POSTs a normal delivery (unique id, fresh connection) every PROBE_MS ms and
records its latency; the server's RSS is sampled every 0.25 s. At the end, every id the probe
got a 200 for must be on the server's stdout. Exit status 1 when a check fails.
"""
import http.client
import json
import os
import selectors
import signal
import socket
import subprocess
import sys
import threading
import time

ENV = os.environ
CONNS = int(ENV.get("CONNS", "1000"))
BASELINE = float(ENV.get("BASELINE", "3"))
WAVE1_SECS = float(ENV.get("WAVE1_SECS", "16"))
HOLD = float(ENV.get("HOLD", "3"))
EXIT_BOUND = float(ENV.get("EXIT_BOUND", "10"))
PROBE_MS = float(ENV.get("PROBE_MS", "50"))
HEADER = ENV.get("HEADER_TIMEOUT_SECS", "10")
BODY = ENV.get("BODY_TIMEOUT_SECS", "5")
PORT = int(ENV.get("PORT", "20950"))
OUT = ENV.get("OUT", "target/slowloris")
SECRET = "slowloris-secret-0123456789"
HOST = "127.0.0.1"

BODY_TEMPLATE = (
    '{"event":"messages.sms.delivered","data":{"id":"%s","from":"+15550001","to":"+15550002",'
    '"status":"delivered","sentAt":"2025-01-01T00:00:00Z","deliveredAt":"2025-01-01T00:00:01Z"}}'
)
# What a slow client drips: a plausible head, far longer than the header timeout at 1 B/s.
SLOW_HEAD = (
    "POST /webhooks/chirp HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: slowloris\r\n"
    "Content-Type: application/json\r\n" + "X-Padding: " + "a" * 200 + "\r\n\r\n"
).encode()


def pct(values, p):
    if not values:
        return None
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


def rss_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


class Probe(threading.Thread):
    """Posts a delivery on a fresh connection every PROBE_MS; records (t, latency, status)."""

    def __init__(self, t0):
        super().__init__(daemon=True)
        self.t0 = t0
        self.results = []  # (t since t0, latency s, status or error string, id)
        self.stop = threading.Event()

    def run(self):
        n = 0
        while not self.stop.is_set():
            n += 1
            mid = f"probe_{n}"
            start = time.monotonic()
            try:
                c = http.client.HTTPConnection(HOST, PORT, timeout=10)
                c.request(
                    "POST",
                    "/webhooks/chirp",
                    body=BODY_TEMPLATE % mid,
                    headers={"Content-Type": "application/json", "X-Webhook-Secret": SECRET},
                )
                status = c.getresponse().status
                c.close()
            except Exception as e:  # noqa: BLE001 - a failure is a data point
                status = type(e).__name__
            lat = time.monotonic() - start
            self.results.append((start - self.t0, lat, status, mid))
            self.stop.wait(max(0.0, PROBE_MS / 1000 - lat))


class Wave:
    """CONNS sockets dripping SLOW_HEAD one byte per second; records when each is closed."""

    def __init__(self, n):
        self.sel = selectors.DefaultSelector()
        self.opened = {}  # sock -> open time
        self.sent = {}
        self.closed = []  # seconds from open to close
        self.failed_connects = 0
        for _ in range(n):
            s = socket.socket()
            try:
                s.connect((HOST, PORT))
            except OSError:
                self.failed_connects += 1
                s.close()
                continue
            s.setblocking(False)
            self.opened[s] = time.monotonic()
            self.sent[s] = 0
            self.sel.register(s, selectors.EVENT_READ)
        self.next_drip = time.monotonic()

    def open_count(self):
        return len(self.opened)

    def _close(self, s):
        self.closed.append(time.monotonic() - self.opened.pop(s))
        self.sel.unregister(s)
        s.close()

    def step(self, timeout):
        for key, _ in self.sel.select(timeout):
            s = key.fileobj
            try:
                data = s.recv(4096)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                data = b""
            if not data:  # EOF or a reset: closed by the server (an answer, if any, came first)
                self._close(s)
        now = time.monotonic()
        if now >= self.next_drip:
            self.next_drip = now + 1.0
            for s in list(self.opened):
                i = self.sent[s]
                if i >= len(SLOW_HEAD):
                    continue
                try:
                    s.send(SLOW_HEAD[i : i + 1])
                    self.sent[s] = i + 1
                except (BlockingIOError, InterruptedError):
                    pass
                except OSError:
                    self._close(s)

    def close_all(self):
        for s in list(self.opened):
            self.sel.unregister(s)
            s.close()
        self.opened.clear()


def main():
    bin_path = sys.argv[1]
    os.makedirs(OUT, exist_ok=True)
    env = dict(ENV, ADDR=f"{HOST}:{PORT}", CHIRP_WEBHOOK_SECRET=SECRET,
               HEADER_TIMEOUT_SECS=HEADER, BODY_TIMEOUT_SECS=BODY)
    env.setdefault("RUST_LOG", "warn")
    stdout = open(os.path.join(OUT, "server.stdout"), "wb")
    stderr = open(os.path.join(OUT, "server.stderr"), "wb")
    server = subprocess.Popen([bin_path], env=env, stdout=stdout, stderr=stderr)
    try:
        return run(server)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()


def run(server):
    for _ in range(300):
        try:
            socket.create_connection((HOST, PORT), timeout=1).close()
            break
        except OSError:
            time.sleep(0.05)
    else:
        print("server did not listen", file=sys.stderr)
        return 2

    t0 = time.monotonic()
    rss = []  # (t, KiB)
    rss_stop = threading.Event()

    def sample():
        while not rss_stop.is_set():
            v = rss_kib(server.pid)
            if v is not None:
                rss.append((time.monotonic() - t0, v))
            rss_stop.wait(0.25)

    threading.Thread(target=sample, daemon=True).start()
    probe = Probe(t0)
    probe.start()
    time.sleep(BASELINE)

    # Wave 1: opened, dripped, watched until the server has closed them all.
    w1_start = time.monotonic() - t0
    wave1 = Wave(CONNS)
    w1_opened = wave1.open_count()
    deadline = time.monotonic() + WAVE1_SECS
    while wave1.open_count() and time.monotonic() < deadline:
        wave1.step(0.1)
    w1_end = time.monotonic() - t0
    w1_left = wave1.open_count()
    wave1.close_all()
    time.sleep(0.5)

    # Wave 2: still open (and dripping) at SIGTERM.
    wave2 = Wave(CONNS)
    w2_opened = wave2.open_count()
    hold_until = time.monotonic() + HOLD
    while time.monotonic() < hold_until:
        wave2.step(0.1)
    w2_open_at_term = wave2.open_count()
    probe.stop.set()
    probe.join()
    term_at = time.monotonic()
    server.send_signal(signal.SIGTERM)
    while server.poll() is None and time.monotonic() - term_at < max(EXIT_BOUND * 3, 60):
        wave2.step(0.05)
    exit_secs = time.monotonic() - term_at
    status = server.poll()
    w2_closed_after_term = len(wave2.closed)
    wave2.close_all()
    rss_stop.set()

    # The probe: latency before and during the attack.
    ok = [r for r in probe.results if r[2] == 200]
    base = [r[1] for r in probe.results if r[0] < w1_start and r[2] == 200]
    attack = [r[1] for r in probe.results if r[0] >= w1_start and r[2] == 200]
    bad = [r for r in probe.results if r[2] != 200]
    printed = set()
    with open(os.path.join(OUT, "server.stdout")) as f:
        for line in f:
            printed.add(json.loads(line)["id"])
    missing = [r[3] for r in ok if r[3] not in printed]
    rss_base = max([v for t, v in rss if t < w1_start] or [0])
    rss_peak = max([v for _, v in rss] or [0])

    def ms(v):
        return None if v is None else round(v * 1000, 1)

    report = {
        "conns_per_wave": CONNS,
        "header_timeout_secs": float(HEADER),
        "body_timeout_secs": float(BODY),
        "probe": {
            "sent": len(probe.results),
            "ok": len(ok),
            "not_ok": len(bad),
            "not_ok_examples": [r[2] for r in bad[:5]],
            "baseline_ms": {"n": len(base), "p50": ms(pct(base, 50)), "p99": ms(pct(base, 99)),
                            "max": ms(max(base, default=None))},
            "under_attack_ms": {"n": len(attack), "p50": ms(pct(attack, 50)),
                                "p99": ms(pct(attack, 99)), "max": ms(max(attack, default=None))},
        },
        "wave1": {
            "opened": w1_opened,
            "failed_connects": wave1.failed_connects,
            "closed_by_server": len(wave1.closed),
            "still_open_after_secs": round(w1_end - w1_start, 1) if w1_left else None,
            "still_open": w1_left,
            "closed_after_secs": {"min": round(min(wave1.closed, default=0), 2),
                                  "p50": round(pct(wave1.closed, 50) or 0, 2),
                                  "max": round(max(wave1.closed, default=0), 2)},
        },
        "rss_kib": {"before_attack": rss_base, "peak": rss_peak,
                    "per_slow_conn_kib": round((rss_peak - rss_base) / max(1, w1_opened), 1)},
        "shutdown": {
            "slow_conns_open_at_sigterm": w2_open_at_term,
            "of_opened": w2_opened,
            "closed_by_server_before_exit": w2_closed_after_term,
            "exit_secs": round(exit_secs, 2),
            "exit_status": status,
        },
        "printed_lines": len(printed),
        "acked_not_printed": len(missing),
        "total_secs": round(time.monotonic() - t0, 1),
    }
    with open(os.path.join(OUT, "report.json"), "w") as f:
        json.dump(report, f, indent=2)
    print(json.dumps(report, indent=2))

    failures = []
    if w1_left:
        failures.append(f"{w1_left} wave-1 connections still open after {WAVE1_SECS} s")
    if status != 0:
        failures.append(f"exit status {status}")
    if exit_secs >= EXIT_BOUND:
        failures.append(f"exit took {exit_secs:.1f} s (bound {EXIT_BOUND} s)")
    if missing:
        failures.append(f"{len(missing)} acknowledged probe ids not printed")
    if not attack:
        failures.append("no probe delivery answered 200 during the attack")
    for f in failures:
        print("slowloris: FAIL:", f, file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
