#!/usr/bin/env python3
"""Senders and stdout checkers for `benches/overload.sh` and `benches/soak.sh`.

Python 3 standard library only. Every request is a `messages.sms.delivered` Chirp event,
`{"event":"messages.sms.delivered","data":{"id":"<ID>","status":"delivered"}}`, POSTed to
`http://127.0.0.1:<port>/webhooks/chirp` with `X-Webhook-Secret`, over keep-alive
`http.client` connections (one per worker thread).

    overload.py overload --port P --secret S --out DIR [--rate 160] [--duration 20]
            [--tries 5] [--backoff 1,2,4,8] [--retry-after-cap 30] [--no-retry-after]
        Open loop: event n (id ov-<n>) is first sent at n / rate seconds, whatever happened to
        the others. A 503 is retried like a webhook provider does: at most --tries tries in all;
        before try k+1 it waits backoff[k-1] seconds, or the answer's Retry-After if that is
        longer (Retry-After itself capped at --retry-after-cap). An event whose last try is
        answered 503 is given up. Any status other than 200 and 503, a 503 without a valid
        Retry-After, and a connection error are failures (counted; a connection error uses a
        try). Ends when every event is acknowledged or given up. Writes DIR/events.tsv and
        DIR/sender.json.

    overload.py soak --port P --secret S --out DIR --pid PID [--rate 500] [--duration 120]
            [--dup-pct 20] [--window 5] [--sample 2]
        Paced (rate split evenly over the workers; a late worker catches up, and the lag is
        reported): a request is a redelivery of an id acknowledged in the last --window seconds
        with probability --dup-pct %, else a new id. Samples VmRSS of PID every --sample
        seconds (DIR/rss.tsv). Writes DIR/acked.tsv and DIR/sender.json.

    overload.py check --acked DIR/acked.tsv STDOUT
        Reads the example's stdout: every id acknowledged as new must be printed exactly once,
        no other id printed, no dead letter, no malformed line. Prints a report; exit 1 on a
        mismatch.
"""

import argparse
import collections
import heapq
import http.client
import json
import os
import queue
import random
import sys
import threading
import time

PATH = "/webhooks/chirp"
NET_ERRORS = (OSError, http.client.HTTPException)


def body_for(event_id):
    return json.dumps(
        {"event": "messages.sms.delivered", "data": {"id": event_id, "status": "delivered"}},
        separators=(",", ":"),
    ).encode()


def post(conn, event_id, secret):
    """One POST; returns (status, Retry-After header or None, body). Raises on network errors."""
    conn.request(
        "POST",
        PATH,
        body=body_for(event_id),
        headers={"content-type": "application/json", "x-webhook-secret": secret},
    )
    resp = conn.getresponse()
    data = resp.read()
    return resp.status, resp.getheader("retry-after"), data


def connect(args):
    return http.client.HTTPConnection("127.0.0.1", args.port, timeout=args.timeout)


def dump(out, name, obj):
    with open(os.path.join(out, name), "w") as f:
        json.dump(obj, f, indent=1, sort_keys=True)
        f.write("\n")


# ---------------------------------------------------------------------------------------------
# overload: open-loop sender at a fixed rate, retrying 503s like a webhook provider


class Overload:
    def __init__(self, args):
        self.args = args
        self.backoff = [float(x) for x in args.backoff.split(",")] if args.backoff else []
        self.lock = threading.Lock()
        self.cond = threading.Condition(self.lock)
        self.heap = []  # (due, seq, id, try number)
        self.seq = 0
        self.work = queue.Queue()
        self.c = collections.Counter()
        self.events = {}  # id -> dict(outcome, tries, t_first, t_done, statuses)
        self.pending = args.rate * args.duration  # events not finished yet
        self.total = self.pending
        self.retry_after_values = collections.Counter()
        self.lag_first = []  # seconds late of each first try
        self.t0 = None

    def schedule(self, due, event_id, try_no):
        with self.cond:
            heapq.heappush(self.heap, (due, self.seq, event_id, try_no))
            self.seq += 1
            self.cond.notify()

    def scheduler(self):
        """Hands every due try to the workers: first tries at n / rate, retries when due."""
        args = self.args
        n = 0
        while True:
            now = time.monotonic() - self.t0
            # First tries, generated lazily on their schedule.
            while n < self.total and n / args.rate <= now:
                self.schedule(n / args.rate, f"ov-{n}", 1)
                n += 1
            with self.cond:
                while self.heap and self.heap[0][0] <= now:
                    due, _, event_id, try_no = heapq.heappop(self.heap)
                    self.work.put((due, event_id, try_no))
                if self.pending == 0:
                    break
                nxt = self.heap[0][0] if self.heap else None
                if n < self.total:
                    nxt = min(nxt, n / args.rate) if nxt is not None else n / args.rate
                wait = 0.05 if nxt is None else max(0.0, min(0.05, nxt - now))
                self.cond.wait(wait)
        for _ in range(args.workers):
            self.work.put(None)

    def finish(self, event_id, outcome, t):
        with self.cond:
            ev = self.events[event_id]
            ev["outcome"] = outcome
            ev["t_done"] = round(t, 3)
            self.c["outcome_" + outcome] += 1
            self.pending -= 1
            self.cond.notify()

    def worker(self):
        args = self.args
        conn = None
        while True:
            item = self.work.get()
            if item is None:
                break
            due, event_id, try_no = item
            now = time.monotonic() - self.t0
            with self.lock:
                ev = self.events.setdefault(
                    event_id, {"tries": 0, "t_first": round(now, 3), "statuses": []})
                ev["tries"] = try_no
                if try_no == 1:
                    self.lag_first.append(now - due)
            if conn is None:
                conn = connect(args)
            try:
                status, retry_after, data = post(conn, event_id, args.secret)
                status_s = str(status)
            except NET_ERRORS as e:
                conn.close()
                conn = None
                status, retry_after, data = None, None, b""
                status_s = "conn_error:" + type(e).__name__
            t = time.monotonic() - self.t0
            with self.lock:
                ev["statuses"].append(status_s)
                self.c["requests"] += 1
                self.c["status_" + status_s] += 1
            if status == 200:
                dup = b'"duplicate":true' in data
                with self.lock:
                    self.c["ok_dup" if dup else "ok_new"] += 1
                self.finish(event_id, "acked_dup" if dup else "acked", t)
                continue
            delay = self.backoff[min(try_no - 1, len(self.backoff) - 1)] if self.backoff else 1.0
            if status == 503:
                ra = None
                if retry_after is not None and retry_after.strip().isdigit():
                    ra = int(retry_after.strip())
                with self.lock:
                    self.retry_after_values[str(retry_after)] += 1
                    if ra is None:
                        self.c["fail_503_without_retry_after"] += 1
                if ra is not None and not args.no_retry_after:
                    delay = max(delay, min(float(ra), args.retry_after_cap))
            elif status is not None:
                # Not expected at all: recorded as a failure; the event is not retried.
                with self.lock:
                    self.c["fail_other_status"] += 1
                self.finish(event_id, f"failed_{status}", t)
                continue
            else:
                with self.lock:
                    self.c["fail_conn_error"] += 1
            if try_no >= args.tries:
                self.finish(event_id, "given_up", t)
            else:
                self.schedule(t + delay, event_id, try_no + 1)
        if conn is not None:
            conn.close()

    def run(self):
        args = self.args
        self.t0 = time.monotonic()
        workers = [threading.Thread(target=self.worker, daemon=True) for _ in range(args.workers)]
        for w in workers:
            w.start()
        sched = threading.Thread(target=self.scheduler, daemon=True)
        sched.start()
        sched.join()
        for w in workers:
            w.join(args.timeout + 5)
        elapsed = time.monotonic() - self.t0
        return elapsed


def cmd_overload(args):
    os.makedirs(args.out, exist_ok=True)
    o = Overload(args)
    elapsed = o.run()
    ev = o.events
    tries_acked = collections.Counter(e["tries"] for e in ev.values() if e["outcome"] == "acked")
    with open(os.path.join(args.out, "events.tsv"), "w") as f:
        f.write("id\toutcome\ttries\tt_first\tt_done\tstatuses\n")
        for i, e in sorted(ev.items(), key=lambda kv: int(kv[0].split("-")[1])):
            f.write(f"{i}\t{e['outcome']}\t{e['tries']}\t{e['t_first']}\t{e['t_done']}\t"
                    f"{','.join(e['statuses'])}\n")
    with open(os.path.join(args.out, "acked.tsv"), "w") as f:
        for i, e in ev.items():
            if e["outcome"] in ("acked", "acked_dup"):
                f.write(f"{i}\t{'dup' if e['outcome'] == 'acked_dup' else 'new'}\t{e['t_done']}\n")
    lag = sorted(o.lag_first)
    last_ack = max((e["t_done"] for e in ev.values() if e["outcome"] == "acked"), default=0)
    summary = {
        "events": o.total,
        "events_sent": len(ev),
        "requests": o.c["requests"],
        "ok_new": o.c["ok_new"],
        "ok_dup": o.c["ok_dup"],
        "s503": o.c["status_503"],
        "statuses": {k[7:]: v for k, v in o.c.items() if k.startswith("status_")},
        "outcomes": {k[8:]: v for k, v in o.c.items() if k.startswith("outcome_")},
        "given_up": o.c["outcome_given_up"],
        "fail_other_status": o.c["fail_other_status"],
        "fail_503_without_retry_after": o.c["fail_503_without_retry_after"],
        "fail_conn_error": o.c["fail_conn_error"],
        "retry_after_values": dict(o.retry_after_values),
        "tries_of_acked_events": {str(k): v for k, v in sorted(tries_acked.items())},
        "first_try_lag_s_p50_p99_max": [round(lag[len(lag) // 2], 4) if lag else 0,
                                         round(lag[int(len(lag) * 0.99)], 4) if lag else 0,
                                         round(lag[-1], 4) if lag else 0],
        "send_phase_s": args.duration,
        "last_ack_s": last_ack,
        "elapsed_s": round(elapsed, 3),
        "config": {"rate": args.rate, "duration": args.duration, "tries": args.tries,
                   "backoff": args.backoff, "honour_retry_after": not args.no_retry_after,
                   "retry_after_cap": args.retry_after_cap, "workers": args.workers},
    }
    dump(args.out, "sender.json", summary)
    print(json.dumps(summary, sort_keys=True))
    return 0


# ---------------------------------------------------------------------------------------------
# soak: steady paced load, unique ids plus redeliveries of recent ones; RSS sampled


class Soak:
    def __init__(self, args):
        self.args = args
        self.lock = threading.Lock()
        self.c = collections.Counter()
        self.acked = []  # (id, "new" | "dup", t, "fresh" | "redelivery")
        self.recent = collections.deque()  # (t acked, id), ids acknowledged as new
        self.stop = threading.Event()
        self.t0 = None
        self.max_lag = 0.0

    def pick_recent(self, now, rng):
        """An id acknowledged in the last --window seconds, or None."""
        with self.lock:
            while self.recent and self.recent[0][0] < now - self.args.window:
                self.recent.popleft()
            if not self.recent:
                return None
            return self.recent[rng.randrange(len(self.recent))]

    def worker(self, index):
        args = self.args
        rng = random.Random(args.seed * 1000 + index)
        per_worker = args.rate / args.workers
        conn = None
        k = 0  # requests of this worker so far
        n = 0  # new ids of this worker so far
        end = args.duration
        while not self.stop.is_set():
            due = (k + rng.random() * 0.5) / per_worker
            if due >= end:
                break
            now = time.monotonic() - self.t0
            if due > now:
                time.sleep(due - now)
                now = due
            else:
                lag = now - due
                if lag > self.max_lag:
                    self.max_lag = lag
            k += 1
            redelivery = None
            if rng.random() * 100 < args.dup_pct:
                redelivery = self.pick_recent(now, rng)
            if redelivery is not None:
                acked_t, event_id = redelivery
                kind = "redelivery"
            else:
                event_id = f"sk-{index}-{n}"
                n += 1
                kind = "fresh"
            if conn is None:
                conn = connect(args)
            try:
                status, _, data = post(conn, event_id, args.secret)
            except NET_ERRORS as e:
                conn.close()
                conn = None
                with self.lock:
                    self.c["fail_conn_error"] += 1
                    self.c["error:" + type(e).__name__] += 1
                continue
            t = time.monotonic() - self.t0
            with self.lock:
                self.c["requests"] += 1
                self.c["requests_" + kind] += 1
                if status != 200:
                    self.c[f"fail_status_{status}"] += 1
                    continue
                dup = b'"duplicate":true' in data
                self.acked.append((event_id, "dup" if dup else "new", round(t, 3), kind))
                self.c[f"ok_{'dup' if dup else 'new'}_{kind}"] += 1
                if kind == "fresh" and not dup:
                    self.recent.append((t, event_id))
                if kind == "redelivery" and not dup:
                    # Answered as new within the dedup window: it will run (and print) twice.
                    self.c["fail_redelivery_answered_new"] += 1
                    self.c["redelivery_new_max_age_s"] = max(
                        self.c["redelivery_new_max_age_s"], round(t - acked_t, 3))
                if kind == "fresh" and dup:
                    self.c["fail_fresh_answered_duplicate"] += 1
        if conn is not None:
            conn.close()

    def sampler(self, rows):
        args = self.args
        path = f"/proc/{args.pid}/status"
        k = 0
        while True:
            t_next = k * args.sample
            now = time.monotonic() - self.t0
            if t_next > now:
                if self.stop.wait(t_next - now):
                    break
            k += 1
            try:
                with open(path) as f:
                    fields = dict(line.split(":", 1) for line in f if ":" in line)
            except OSError:
                break
            rss = int(fields["VmRSS"].split()[0])
            hwm = int(fields["VmHWM"].split()[0])
            with self.lock:
                reqs = self.c["requests"]
            rows.append((round(time.monotonic() - self.t0, 2), rss, hwm, reqs))

    def run(self):
        args = self.args
        self.t0 = time.monotonic()
        rows = []
        sampler = threading.Thread(target=self.sampler, args=(rows,), daemon=True)
        sampler.start()
        workers = [threading.Thread(target=self.worker, args=(i,), daemon=True)
                   for i in range(args.workers)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        # One last sample after the load.
        elapsed = time.monotonic() - self.t0
        self.stop.set()
        sampler.join(5)
        return elapsed, rows


def rss_at(rows, t):
    """The first sample at or after t seconds (kB), or the last one."""
    for row in rows:
        if row[0] >= t:
            return row
    return rows[-1] if rows else None


def cmd_soak(args):
    os.makedirs(args.out, exist_ok=True)
    s = Soak(args)
    elapsed, rows = s.run()
    with open(os.path.join(args.out, "rss.tsv"), "w") as f:
        f.write("t_s\tvmrss_kb\tvmhwm_kb\trequests\n")
        for row in rows:
            f.write("\t".join(map(str, row)) + "\n")
    with open(os.path.join(args.out, "acked.tsv"), "w") as f:
        for event_id, kind, t, how in s.acked:
            f.write(f"{event_id}\t{kind}\t{t}\t{how}\n")
    warm = rss_at(rows, args.warmup)
    at20 = rss_at(rows, 20)
    end = rows[-1] if rows else None
    after = [r[1] for r in rows if warm and r[0] >= warm[0]]
    growth = (end[1] - warm[1]) / warm[1] if warm and end else None
    c = s.c
    summary = {
        "requests": c["requests"],
        "requests_fresh": c["requests_fresh"],
        "requests_redelivery": c["requests_redelivery"],
        "achieved_rate_per_s": round(c["requests"] / elapsed, 1) if elapsed else 0,
        "max_lag_s": round(s.max_lag, 3),
        "ok_new": c["ok_new_fresh"] + c["ok_new_redelivery"],
        "ok_dup_redelivery": c["ok_dup_redelivery"],
        "fail_redelivery_answered_new": c["fail_redelivery_answered_new"],
        "fail_fresh_answered_duplicate": c["fail_fresh_answered_duplicate"],
        "fail_conn_error": c["fail_conn_error"],
        "fail_status": {k[12:]: v for k, v in c.items() if k.startswith("fail_status_")},
        "rss_kb_at_20s": at20[1] if at20 else None,
        "rss_warmup_s": warm[0] if warm else None,
        "rss_kb_at_warmup": warm[1] if warm else None,
        "rss_kb_end": end[1] if end else None,
        "rss_end_s": end[0] if end else None,
        "rss_kb_max_after_warmup": max(after) if after else None,
        "rss_kb_min_after_warmup": min(after) if after else None,
        "rss_growth_after_warmup": round(growth, 4) if growth is not None else None,
        "rss_samples": len(rows),
        "elapsed_s": round(elapsed, 3),
        "config": {"rate": args.rate, "duration": args.duration, "dup_pct": args.dup_pct,
                   "window_s": args.window, "workers": args.workers, "warmup_s": args.warmup,
                   "sample_s": args.sample},
    }
    dump(args.out, "sender.json", summary)
    print(json.dumps(summary, sort_keys=True))
    return 0


# ---------------------------------------------------------------------------------------------
# check: the example's stdout against what was acknowledged


def cmd_check(args):
    acked_new = set()
    acked_dup = set()
    with open(args.acked) as f:
        for row in f:
            parts = row.rstrip("\n").split("\t")
            (acked_new if parts[1] == "new" else acked_dup).add(parts[0])
    lines = 0
    malformed = []
    dead = []
    count = collections.Counter()
    attempts = collections.Counter()
    with open(args.stdout, "rb") as f:
        for n, raw in enumerate(f, 1):
            lines += 1
            try:
                obj = json.loads(raw)
            except ValueError:
                obj = None
            if not isinstance(obj, dict) or not isinstance(obj.get("id"), str):
                malformed.append((n, raw[:200]))
                continue
            if obj.get("dead_letter"):
                dead.append(obj)
                continue
            count[obj["id"]] += 1
            attempts[str(obj.get("attempt"))] += 1
    lost = sorted(acked_new - set(count))
    doubled = sorted(i for i, k in count.items() if k > 1)
    # An id printed that was never answered 200 (e.g. answered 503 yet queued).
    unacked = sorted(set(count) - acked_new - acked_dup)
    # Acknowledged only by a duplicate 200, and never as new: a lost first 200 (timeout).
    dup_only = sorted(acked_dup - acked_new)
    report = {
        "acked_new_ids": len(acked_new),
        "acked_dup_only_ids": len(dup_only),
        "lines": lines,
        "distinct_ids_printed": len(count),
        "lost": len(lost),
        "doubled": len(doubled),
        "extra_lines": sum(k - 1 for k in count.values() if k > 1),
        "printed_never_acked": len(unacked),
        "dead_letter_lines": len(dead),
        "malformed_lines": len(malformed),
        "attempt_histogram": dict(attempts),
    }
    print(json.dumps(report, indent=1))
    for name, ids in (("LOST (answered 200, never printed)", lost),
                      ("DOUBLED (printed more than once)", doubled),
                      ("printed, never answered 200", unacked)):
        if ids:
            print(f"{name}: {len(ids)}; first: {ids[:20]}", file=sys.stderr)
    for n, raw in malformed[:10]:
        print(f"malformed line {n}: {raw!r}", file=sys.stderr)
    for obj in dead[:10]:
        print(f"unexpected dead letter: {obj}", file=sys.stderr)
    bad = lost or doubled or unacked or dead or malformed
    return 1 if bad else 0


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    for name in ("overload", "soak"):
        s = sub.add_parser(name)
        s.add_argument("--port", type=int, required=True)
        s.add_argument("--secret", required=True)
        s.add_argument("--out", required=True)
        s.add_argument("--timeout", type=float, default=10.0)
        s.add_argument("--workers", type=int, default=16)
        if name == "overload":
            s.add_argument("--rate", type=int, default=160)
            s.add_argument("--duration", type=int, default=20)
            s.add_argument("--tries", type=int, default=5)
            s.add_argument("--backoff", default="1,2,4,8",
                           help="seconds before try 2, 3, ... (the last repeats)")
            s.add_argument("--retry-after-cap", type=float, default=30.0)
            s.add_argument("--no-retry-after", action="store_true",
                           help="ignore Retry-After (use the backoff alone)")
        else:
            s.add_argument("--pid", type=int, required=True)
            s.add_argument("--rate", type=float, default=500)
            s.add_argument("--duration", type=float, default=120)
            s.add_argument("--dup-pct", type=float, default=20)
            s.add_argument("--window", type=float, default=5)
            s.add_argument("--sample", type=float, default=2)
            s.add_argument("--warmup", type=float, default=40)
            s.add_argument("--seed", type=int, default=1)
    s = sub.add_parser("check")
    s.add_argument("--acked", required=True)
    s.add_argument("stdout")
    args = p.parse_args()
    return {"overload": cmd_overload, "soak": cmd_soak, "check": cmd_check}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
