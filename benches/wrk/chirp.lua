-- wrk script for benches/load.sh: POSTs a Chirp event with a unique `data.id` per request.
--
--   wrk -t1 -c64 -d10s --latency -s benches/wrk/chirp.lua http://127.0.0.1:3000/webhooks/chirp \
--       -- <payload.json> <secret> <run tag> [duplicate percent]
--
-- <payload.json> holds the body with `__ID__` where the message id goes (benches/payloads/).
-- Ids are `<run tag>-<thread>-<counter>`, unique within a run and across runs with distinct tags.
-- With a duplicate percent P (0-99), P of every 100 requests, spread evenly, resend the most recent
-- new id of their thread (a redelivery: answered 200 and not dispatched); the rest carry a new id.
--
-- WRK_PACE_MS=<n> in the environment makes each connection wait before its next request, a random
-- 1 to 2n-1 ms (n on average): a fixed offered load of about connections * 1000 / n requests per
-- second instead of as fast as the server answers. The jitter keeps connections from arriving in
-- lockstep bursts, as independent senders would not.
--
-- `done` prints one machine-readable line for load.sh:
--   WRK_RESULT requests=.. seconds=.. rps=.. p50_us=.. p90_us=.. p99_us=.. max_us=.. non2xx=.. socket_errors=..
--              sent=.. new_ids=..
-- `requests` counts the responses wrk read (non2xx of them >= 400). `sent` counts the requests
-- written, answered or not: at the end of the run up to one per connection is still in flight
-- (the server may or may not handle it), and a request lost to a socket error is counted too.
-- `new_ids` is how many of the sent requests carried an id not sent before: the distinct ids of
-- the run, since a duplicate only ever resends an id already sent. load.sh checks the servers'
-- stdout line counts against these.
--
-- wrk calls `request` once in the first thread before the run, to check what it returns, and
-- never sends that request: that call returns a placeholder and counts nothing.

local threads = {}
local counter = 0
-- Per thread: requests written, and how many of them carried a new id (read by `done`).
sent = 0
new_ids = 0
local checked = false

-- Read at load time (wrk checks for `delay` before calling `init`).
local pace_ms = tonumber(os.getenv("WRK_PACE_MS") or "0") or 0
if pace_ms > 0 then
   function delay()
      return math.random(1, 2 * pace_ms - 1)
   end
end

function setup(thread)
   thread:set("tid", #threads + 1)
   table.insert(threads, thread)
end

function init(args)
   local path, secret = args[1], args[2]
   tag = args[3] or "run"
   duplicate_percent = tonumber(args[4] or "0")
   if not path or not secret then
      error("usage: -- <payload.json> <secret> <run tag> [duplicate percent]")
   end
   local file = assert(io.open(path, "rb"))
   local template = file:read("*a")
   file:close()
   local at = string.find(template, "__ID__", 1, true)
   if not at then
      error(path .. " has no __ID__ placeholder")
   end
   prefix = string.sub(template, 1, at - 1)
   suffix = string.sub(template, at + 6)
   wrk.method = "POST"
   wrk.headers["Content-Type"] = "application/json"
   wrk.headers["X-Webhook-Secret"] = secret
   last_id = nil
end

function request()
   if not checked then
      checked = true
      if tid == 1 then
         -- wrk's check of the script (wrk.c, script_verify_request): not sent.
         return wrk.format(nil, nil, nil, prefix .. "msg_" .. tag .. "_check" .. suffix)
      end
   end
   counter = counter + 1
   sent = counter
   local id
   local p = duplicate_percent
   if last_id ~= nil and math.floor(counter * p / 100) > math.floor((counter - 1) * p / 100) then
      id = last_id
   else
      id = string.format("msg_%s_%d_%d", tag, tid, counter)
      last_id = id
      new_ids = new_ids + 1
   end
   return wrk.format(nil, nil, nil, prefix .. id .. suffix)
end

function done(summary, latency, requests)
   local e = summary.errors
   local sent_all, new_all = 0, 0
   for _, thread in ipairs(threads) do
      sent_all = sent_all + (thread:get("sent") or 0)
      new_all = new_all + (thread:get("new_ids") or 0)
   end
   io.write(string.format(
      "WRK_RESULT requests=%d seconds=%.3f rps=%.1f p50_us=%d p90_us=%d p99_us=%d max_us=%d non2xx=%d socket_errors=%d sent=%d new_ids=%d\n",
      summary.requests,
      summary.duration / 1e6,
      summary.requests / (summary.duration / 1e6),
      latency:percentile(50),
      latency:percentile(90),
      latency:percentile(99),
      latency.max,
      e.status,
      e.connect + e.read + e.write + e.timeout,
      sent_all,
      new_all
   ))
end
