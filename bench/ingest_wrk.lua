-- wrk script of bench/ingest_bench.py (run by it; see bench/README.md).
--
--   wrk -t1 -c16 -d20s -s bench/ingest_wrk.lua http://127.0.0.1:PORT -- MODE PATH OUT TAG KEYS
--
-- MODE  "bare": GET PATH (a bare JSON view); "ingest": POST a single-alert Alertmanager
--       webhook (version 4) to PATH, an ingestion URL with its token (202 expected);
--       "drf": the same POST to PATH, bench_drf's DRF create view (201 expected).
-- OUT   file that done() writes: JSON figures, then (ingest, drf) one accepted event uuid a line.
-- TAG   text put into every groupKey, so runs never share keys.
-- KEYS  0: every request a new groupKey (a new incident each); N > 0: N groupKeys per
--       wrk thread, sent in turn (Alertmanager re-sending a group's state).
--
-- Every request carries X-Forwarded-Proto: https, as behind the TLS proxy production
-- runs behind (the bench starts gunicorn with USE_X_FORWARDED_PROTO=true).

local threads = {}

function setup(thread)
   thread:set("thread_id", #threads + 1)
   table.insert(threads, thread)
end

-- Per-thread state (each wrk thread has a Lua state of its own).
local mode, path, tag, keys
local sent = 0
accepted = 0
refused = 0
uuids = {}

local TEMPLATE = '{"version":"4","groupKey":"{}/{job=\\"bench\\"}:{alertname=\\"BenchAlert\\",key=\\"%s\\"}",'
   .. '"truncatedAlerts":0,"status":"firing","receiver":"opsgov",'
   .. '"groupLabels":{"alertname":"BenchAlert","key":"%s"},'
   .. '"commonLabels":{"alertname":"BenchAlert","job":"bench","severity":"warning","key":"%s"},'
   .. '"commonAnnotations":{"summary":"Bench alert %s"},'
   .. '"externalURL":"http://alertmanager.bench.internal:9093",'
   .. '"alerts":[{"status":"firing",'
   .. '"labels":{"alertname":"BenchAlert","job":"bench","severity":"warning","key":"%s","instance":"bench-1:9100"},'
   .. '"annotations":{"summary":"Bench alert %s","description":"Synthetic load from bench/ingest_bench.py"},'
   .. '"startsAt":"2026-11-20T10:15:30.000Z","endsAt":"0001-01-01T00:00:00Z",'
   .. '"generatorURL":"http://prometheus.bench.internal:9090/graph?g0.expr=up+%%3D%%3D+0",'
   .. '"fingerprint":"%s"}]}'

function init(args)
   mode, path, tag, keys = args[1], args[2], args[4], tonumber(args[5] or "0")
   out_path = args[3] -- a global: done() runs in the main Lua state and reads it from a thread
   wrk.headers["X-Forwarded-Proto"] = "https"
   if mode ~= "bare" then
      wrk.headers["Content-Type"] = "application/json"
   end
end

function request()
   if mode == "bare" then
      return wrk.format("GET", path)
   end
   sent = sent + 1
   local n = sent
   if keys > 0 then
      n = (sent - 1) % keys + 1
   end
   local key = string.format("%s-%d-%d", tag, thread_id, n)
   local fingerprint = string.format("%08x%08x", thread_id, n)
   local body = string.format(TEMPLATE, key, key, key, key, key, key, fingerprint)
   return wrk.format("POST", path, nil, body)
end

local EXPECTED = {bare = 200, ingest = 202, drf = 201}

function response(status, headers, body)
   if status == EXPECTED[mode] then
      accepted = accepted + 1
      if mode == "ingest" then
         uuids[#uuids + 1] = string.match(body, '"event": "([%x%-]+)"') or "?"
      elseif mode == "drf" then
         uuids[#uuids + 1] = string.match(body, '"uuid":"([%x%-]+)"') or "?"
      end
   else
      refused = refused + 1
   end
end

function done(summary, latency, requests)
   local out_path = threads[1]:get("out_path")
   local total_accepted, total_refused = 0, 0
   local all_uuids = {}
   for _, thread in ipairs(threads) do
      total_accepted = total_accepted + thread:get("accepted")
      total_refused = total_refused + thread:get("refused")
      for _, value in ipairs(thread:get("uuids")) do
         all_uuids[#all_uuids + 1] = value
      end
   end
   local errors = summary.errors
   local out = io.open(out_path, "w")
   out:write(string.format(
      '{"requests": %d, "duration_us": %d, "bytes": %d, "accepted": %d, "refused": %d, '
         .. '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, '
         .. '"latency_us": {"mean": %.1f, "p50": %d, "p90": %d, "p99": %d, "p999": %d, "max": %d}}\n',
      summary.requests, summary.duration, summary.bytes, total_accepted, total_refused,
      errors.connect, errors.read, errors.write, errors.status, errors.timeout,
      latency.mean, latency:percentile(50), latency:percentile(90), latency:percentile(99),
      latency:percentile(99.9), latency.max
   ))
   for _, value in ipairs(all_uuids) do
      out:write(value, "\n")
   end
   out:close()
end
