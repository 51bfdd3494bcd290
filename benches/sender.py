#!/usr/bin/env python3
"""Webhook sender and stdout checker for `benches/kill9.sh` and `benches/retries.sh`.

Python 3 standard library only. Every request is a `messages.sms.delivered` Chirp event,
`{"event":"messages.sms.delivered","data":{"id":"<ID>","status":"delivered"}}`, POSTed to
`http://127.0.0.1:<port>/webhooks/chirp` with `X-Webhook-Secret`, over keep-alive
`http.client` connections (one per thread).

    sender.py load  --port P --secret S --out DIR [--threads 8] [--prefix k9]
        Posts unique ids until SIGTERM/SIGINT, like a webhook provider: a 503 or a connection
        error is retried with the same id (after --backoff-ms / --error-ms) until it is
        answered 200, then the thread moves on to a new id. Writes DIR/acked.tsv (id, "new" or
        "dup", seconds since start) and DIR/sender.json (counts) when stopped.

    sender.py burst --port P --secret S --out DIR --count N [--threads 8] [--prefix r]
        Posts ids <prefix>-0 .. <prefix>-(N-1) once each, no retries; writes the same two files
        and exits 0 only if every POST was answered 200 (new).

    sender.py check-kill9 --acked DIR/acked.tsv --sender DIR/sender.json RUN.stdout...
    sender.py check-retries --mode attempt3|dead3 --count N --prefix r --attempts 3 RUN.stdout
        Read the example's stdout lines and check them; print a report; exit 1 on a mismatch.
"""

import argparse
import collections
import http.client
import json
import os
import re
import signal
import sys
import threading
import time

PATH = "/webhooks/chirp"


def body_for(event_id):
    return json.dumps(
        {"event": "messages.sms.delivered", "data": {"id": event_id, "status": "delivered"}},
        separators=(",", ":"),
    ).encode()


class Counts:
    """Totals shared by the sender threads (under one lock)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.c = collections.Counter()
        self.acked = []  # (id, "new" | "dup", t)

    def add(self, key, n=1):
        with self.lock:
            self.c[key] += n

    def ack(self, event_id, kind, t):
        with self.lock:
            self.acked.append((event_id, kind, t))
            self.c["ok_" + kind] += 1


def post(conn, event_id, secret):
    """One POST; returns (status, body). Raises on connection errors."""
    conn.request(
        "POST",
        PATH,
        body=body_for(event_id),
        headers={"content-type": "application/json", "x-webhook-secret": secret},
    )
    resp = conn.getresponse()
    data = resp.read()
    return resp.status, data


NET_ERRORS = (OSError, http.client.HTTPException)


def load_thread(args, index, counts, stop, t0):
    conn = None
    # With several ports (replicas), thread i starts on port i mod n and moves to the next one
    # after a connection error, as a load balancer would.
    shift = 0
    n = 0
    current = None
    backoff = args.backoff_ms / 1000.0
    error_pause = args.error_ms / 1000.0
    while not stop.is_set():
        if current is None:
            current = f"{args.prefix}-{index}-{n}"
            n += 1
        if conn is None:
            port = args.ports[(index + shift) % len(args.ports)]
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=args.timeout)
        try:
            status, data = post(conn, current, args.secret)
        except NET_ERRORS as e:
            counts.add("conn_errors")
            counts.add("error:" + type(e).__name__)
            conn.close()
            conn = None
            shift += 1
            stop.wait(error_pause)
            continue
        counts.add("requests")
        if status == 200:
            kind = "dup" if b'"duplicate":true' in data else "new"
            counts.ack(current, kind, round(time.monotonic() - t0, 3))
            current = None
        elif status == 503:
            counts.add("s503")
            stop.wait(backoff)
        else:
            # Not expected: recorded, and the id is given up (it was not acknowledged).
            counts.add(f"status_{status}")
            current = None
    if current is not None:
        counts.add("unacked_at_stop")
    if conn is not None:
        conn.close()


def burst_thread(args, ids, counts):
    conn = http.client.HTTPConnection("127.0.0.1", args.port, timeout=args.timeout)
    t0 = time.monotonic()
    while True:
        try:
            event_id = next(ids)
        except StopIteration:
            break
        try:
            status, data = post(conn, event_id, args.secret)
        except NET_ERRORS as e:
            counts.add("conn_errors")
            counts.add("error:" + type(e).__name__)
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", args.port, timeout=args.timeout)
            continue
        counts.add("requests")
        if status == 200:
            kind = "dup" if b'"duplicate":true' in data else "new"
            counts.ack(event_id, kind, round(time.monotonic() - t0, 3))
        elif status == 503:
            counts.add("s503")
        else:
            counts.add(f"status_{status}")
    conn.close()


class LockedIter:
    def __init__(self, it):
        self.it = it
        self.lock = threading.Lock()

    def __next__(self):
        with self.lock:
            return next(self.it)


def write_results(out, counts, elapsed):
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "acked.tsv"), "w") as f:
        for event_id, kind, t in counts.acked:
            f.write(f"{event_id}\t{kind}\t{t}\n")
    summary = dict(counts.c)
    summary["elapsed_s"] = round(elapsed, 3)
    summary["acked_ids"] = len({a[0] for a in counts.acked})
    with open(os.path.join(out, "sender.json"), "w") as f:
        json.dump(summary, f, indent=1, sort_keys=True)
        f.write("\n")
    return summary


def cmd_load(args):
    args.ports = [int(p) for p in str(args.port).split(",")]
    counts = Counts()
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    t0 = time.monotonic()
    threads = [
        threading.Thread(target=load_thread, args=(args, i, counts, stop, t0), daemon=True)
        for i in range(args.threads)
    ]
    for t in threads:
        t.start()
    while not stop.is_set():
        stop.wait(0.5)
    for t in threads:
        t.join(args.timeout + 5)
    summary = write_results(args.out, counts, time.monotonic() - t0)
    print(json.dumps(summary, sort_keys=True))
    return 0


def cmd_burst(args):
    args.port = int(args.port)
    counts = Counts()
    ids = LockedIter(iter([f"{args.prefix}-{i}" for i in range(args.count)]))
    t0 = time.monotonic()
    threads = [
        threading.Thread(target=burst_thread, args=(args, ids, counts), daemon=True)
        for _ in range(args.threads)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    summary = write_results(args.out, counts, time.monotonic() - t0)
    print(json.dumps(summary, sort_keys=True))
    ok = summary.get("ok_new", 0) == args.count and summary.get("requests", 0) == args.count
    if not ok:
        print(f"burst: {summary.get('ok_new', 0)} of {args.count} POSTs answered 200 (new)",
              file=sys.stderr)
    return 0 if ok else 1


def run_number(path):
    m = re.search(r"run-(\d+)", os.path.basename(path))
    return int(m.group(1)) if m else -1


def read_lines(paths):
    """[(run, line number, parsed or None, raw)] for every stdout line of every file."""
    out = []
    for p in paths:
        run = run_number(p)
        with open(p, "rb") as f:
            for n, raw in enumerate(f, 1):
                try:
                    obj = json.loads(raw)
                    if not isinstance(obj, dict):
                        obj = None
                except ValueError:
                    obj = None
                out.append((run, n, obj, raw))
    return out


def cmd_check_kill9(args):
    acked = {}
    acked_dup = set()
    with open(args.acked) as f:
        for row in f:
            event_id, kind, t = row.rstrip("\n").split("\t")
            acked.setdefault(event_id, float(t))
            if kind == "dup":
                acked_dup.add(event_id)
    with open(args.sender) as f:
        sender = json.load(f)

    lines = read_lines(args.stdout)
    malformed = [(run, n, raw) for run, n, obj, raw in lines if obj is None]
    dead = [(run, obj) for run, _, obj, _ in lines if obj and obj.get("dead_letter")]
    runs_of = collections.defaultdict(list)  # id -> [run, ...] of its handler lines
    attempts = collections.Counter()
    no_id = 0
    for run, _, obj, _ in lines:
        if not obj or obj.get("dead_letter"):
            continue
        if not isinstance(obj.get("id"), str):
            no_id += 1
            continue
        runs_of[obj["id"]].append(run)
        attempts[obj.get("attempt")] += 1

    missing = sorted(set(acked) - set(runs_of), key=lambda i: acked[i])
    unacked_printed = sorted(set(runs_of) - set(acked))
    multi = {i: r for i, r in runs_of.items() if len(r) > 1}
    times = collections.Counter(len(r) for r in multi.values())
    same_run = {i: r for i, r in multi.items() if len(set(r)) < len(r)}
    # Where the extra runs fall: run k then run k+1 (killed, replayed at the next start), or
    # further apart.
    gaps = collections.Counter()
    for r in multi.values():
        s = sorted(r)
        for a, b in zip(s, s[1:]):
            gaps["next run" if b == a + 1 else ("same run" if b == a else "later run")] += 1
    per_run = collections.Counter(run for run, _, obj, _ in lines if obj)
    # For each run whose lines ran again later: how many, and where they sit in its stdout
    # (the last lines before the kill, if their completion was what was not durable yet).
    position = {}
    for run, n, obj, _ in lines:
        if obj and obj.get("id") in multi and not obj.get("dead_letter"):
            if min(multi[obj["id"]]) == run:
                position.setdefault(run, []).append(n)
    rerun_sources = {
        str(run): f"{len(ns)} lines, lines {min(ns)}-{max(ns)} of {per_run[run]}"
        for run, ns in sorted(position.items())
    }

    report = {
        "acked_ids": len(acked),
        "acked_via_duplicate_200": len(acked_dup),
        "posts_200_new": sender.get("ok_new", 0),
        "posts_200_duplicate": sender.get("ok_dup", 0),
        "posts_503": sender.get("s503", 0),
        "conn_errors": sender.get("conn_errors", 0),
        "other_status": {k: v for k, v in sender.items() if k.startswith("status_")},
        "stdout_files": len(args.stdout),
        "lines": len(lines),
        "handler_lines": sum(len(r) for r in runs_of.values()),
        "distinct_ids_printed": len(runs_of),
        "missing": len(missing),
        "printed_never_acked": len(unacked_printed),
        "ids_printed_more_than_once": len(multi),
        "extra_lines_from_reruns": sum(len(r) - 1 for r in multi.values()),
        "times_printed_histogram": {str(k): v for k, v in sorted(times.items())},
        "rerun_gaps": dict(gaps),
        "rerun_sources": rerun_sources,
        "ids_printed_twice_in_one_run": len(same_run),
        "dead_letter_lines": len(dead),
        "malformed_lines": len(malformed),
        "lines_without_id": no_id,
        "attempt_histogram": {str(k): v for k, v in sorted(attempts.items(), key=str)},
        "lines_per_run_min_max": [min(per_run.values(), default=0), max(per_run.values(), default=0)],
    }
    print(json.dumps(report, indent=1))
    if missing:
        print(f"\nLOST: {len(missing)} acknowledged ids printed no line. First ones (id, "
              "seconds after the sender started when the 200 arrived):", file=sys.stderr)
        for i in missing[:50]:
            print(f"  {i}\t{acked[i]}", file=sys.stderr)
        with open(args.missing_out, "w") as f:
            for i in missing:
                f.write(f"{i}\t{acked[i]}\n")
        print(f"all of them in {args.missing_out}", file=sys.stderr)
    for run, n, raw in malformed[:10]:
        print(f"malformed line: run {run} line {n}: {raw[:200]!r}", file=sys.stderr)
    for run, obj in dead[:10]:
        print(f"unexpected dead letter in run {run}: {obj}", file=sys.stderr)
    for i, r in list(same_run.items())[:10]:
        print(f"printed twice in one run: {i} runs {r}", file=sys.stderr)
    bad = missing or malformed or dead or same_run or no_id
    if len(unacked_printed) > args.max_unacked:
        print(f"{len(unacked_printed)} ids printed without a 200 (more than the {args.max_unacked} "
              f"in flight at the sender's stop): {unacked_printed[:10]}", file=sys.stderr)
        bad = True
    return 1 if bad else 0


def cmd_check_retries(args):
    lines = read_lines(args.stdout)
    want = {f"{args.prefix}-{i}" for i in range(args.count)}
    by_id = collections.defaultdict(list)
    malformed = 0
    for _, _, obj, raw in lines:
        if obj is None or not isinstance(obj.get("id"), str):
            malformed += 1
            continue
        by_id[obj["id"]].append(obj)

    def good(obj):
        if args.mode == "attempt3":
            return (obj.get("attempt") == args.attempts and "dead_letter" not in obj)
        return (obj.get("dead_letter") is True and obj.get("attempts") == args.attempts
                and obj.get("reason") == "exhausted" and "attempt" not in obj)

    missing = sorted(want - set(by_id))
    extra_ids = sorted(set(by_id) - want)
    not_once = sorted(i for i, v in by_id.items() if i in want and len(v) != 1)
    wrong = sorted(i for i, v in by_id.items() if i in want and len(v) == 1 and not good(v[0]))
    handler_lines = sum(1 for v in by_id.values() for o in v if "attempt" in o)
    dead_lines = sum(1 for v in by_id.values() for o in v if o.get("dead_letter"))
    report = {
        "mode": args.mode,
        "expected_ids": len(want),
        "lines": len(lines),
        "ids_with_exactly_one_good_line": len(want) - len(missing) - len(not_once) - len(wrong),
        "handler_lines": handler_lines,
        "dead_letter_lines": dead_lines,
        "missing": len(missing),
        "not_exactly_once": len(not_once),
        "wrong_line": len(wrong),
        "unexpected_ids": len(extra_ids),
        "malformed": malformed,
        "attempt_values": dict(collections.Counter(
            str(o.get("attempt", o.get("attempts"))) for v in by_id.values() for o in v)),
        "reasons": dict(collections.Counter(
            o.get("reason") for v in by_id.values() for o in v if o.get("dead_letter"))),
    }
    print(json.dumps(report, indent=1))
    for name, ids in (("missing", missing), ("not exactly once", not_once),
                      ("wrong line", wrong), ("unexpected", extra_ids)):
        for i in ids[:10]:
            print(f"{name}: {i} {by_id.get(i)}", file=sys.stderr)
    bad = missing or not_once or wrong or extra_ids or malformed
    return 1 if bad else 0


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    for name in ("load", "burst"):
        s = sub.add_parser(name)
        s.add_argument("--port", required=True,
                       help="a port, or comma-separated ports (replicas) for load")
        s.add_argument("--secret", required=True)
        s.add_argument("--out", required=True)
        s.add_argument("--threads", type=int, default=8)
        s.add_argument("--prefix", default="k9" if name == "load" else "r")
        s.add_argument("--timeout", type=float, default=5.0)
        if name == "load":
            s.add_argument("--backoff-ms", type=float, default=10.0,
                           help="pause before retrying after a 503")
            s.add_argument("--error-ms", type=float, default=20.0,
                           help="pause before reconnecting after a connection error")
        else:
            s.add_argument("--count", type=int, required=True)
    s = sub.add_parser("check-kill9")
    s.add_argument("--acked", required=True)
    s.add_argument("--sender", required=True)
    s.add_argument("--missing-out", default="missing.tsv")
    s.add_argument("--max-unacked", type=int, default=8,
                   help="ids printed without a 200 allowed (the requests in flight at the stop)")
    s.add_argument("stdout", nargs="+")
    s = sub.add_parser("check-retries")
    s.add_argument("--mode", choices=("attempt3", "dead3"), required=True)
    s.add_argument("--count", type=int, required=True)
    s.add_argument("--prefix", required=True)
    s.add_argument("--attempts", type=int, default=3)
    s.add_argument("stdout", nargs="+")
    args = p.parse_args()
    return {
        "load": cmd_load,
        "burst": cmd_burst,
        "check-kill9": cmd_check_kill9,
        "check-retries": cmd_check_retries,
    }[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
