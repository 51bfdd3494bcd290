#!/usr/bin/env python3
"""Sends N Chirp events, one after another on one keep-alive connection, and checks each is
answered 200; for `benches/callgrind.sh`, which counts the server's instructions per request.

    benches/sequential_client.py --port 20600 --n 1000 --payload benches/payloads/sms_delivered_390.json \
        --secret s --tag run1

Waits up to 120 s for the port (a server under valgrind starts slowly), sends one health-check
event first (its own id), then the N events with unique `data.id`s (`<tag>-<i>`). With
`--duplicate-pct P` (0-90, a multiple of 10), P of every 10 requests resend the last new id (a
redelivery) instead: `--duplicate-pct 90` is one new id, then nine redeliveries of it, and so on.
Prints the number of distinct ids sent (the handler lines to expect, health check included).
"""
import argparse
import http.client
import socket
import sys
import time


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--n", type=int, required=True)
    p.add_argument("--payload", required=True)
    p.add_argument("--secret", required=True)
    p.add_argument("--tag", required=True)
    p.add_argument("--duplicate-pct", type=int, default=0)
    a = p.parse_args()
    if a.duplicate_pct % 10 or not 0 <= a.duplicate_pct <= 90:
        sys.exit("--duplicate-pct: 0 to 90, a multiple of 10")
    new_every = 10 - a.duplicate_pct // 10
    template = open(a.payload, encoding="utf-8").read()
    deadline = time.monotonic() + 120
    while True:
        try:
            socket.create_connection(("127.0.0.1", a.port), timeout=1).close()
            break
        except OSError:
            if time.monotonic() > deadline:
                sys.exit(f"port {a.port} did not open within 120 s")
            time.sleep(0.2)
    conn = http.client.HTTPConnection("127.0.0.1", a.port, timeout=60)
    headers = {"Content-Type": "application/json", "X-Webhook-Secret": a.secret}
    ids = [f"{a.tag}-health"] + [
        f"{a.tag}-{i - i % 10 if i % 10 >= new_every else i}" for i in range(a.n)
    ]
    for msg_id in ids:
        conn.request("POST", "/webhooks/chirp", template.replace("__ID__", msg_id), headers)
        res = conn.getresponse()
        body = res.read()
        if res.status != 200:
            sys.exit(f"{msg_id}: {res.status} {body!r}")
    conn.close()
    print(len(set(ids)))
    # Let the handlers' lines be written (they run after the 200s) before the SIGTERM.
    time.sleep(1.0)


if __name__ == "__main__":
    main()
