-- wrk script of bench/backup_bench.py (run by it):
--
--   wrk -t1 -c8 -d10s -s bench/backup_ping_wrk.lua http://127.0.0.1:PORT -- MODE PATH_OR_UUIDS OUT
--
-- MODE  "bare": GET PATH (/healthz, a bare view behind the whole middleware stack);
--       "floor": GET PATH as well (/bench/ping-floor/<job id>/0: the INSERT of a ping and nothing else);
--       "ping": GET /ping/<uuid>/0 going round the uuids in the file PATH_OR_UUIDS (one a line), so no
--       job reaches its per-job ping rate.
-- OUT   file that done() writes: JSON figures on one line (requests, duration, non-2xx, latency percentiles).

local threads = {}

function setup(thread)
   thread:set("thread_id", #threads + 1)
   table.insert(threads, thread)
end

local mode, path
local uuids = {}
local sent = 0
ok = 0
other = 0
limited = 0

function init(args)
   mode, path = args[1], args[2]
   out_path = args[3]
   wrk.headers["X-Forwarded-Proto"] = "https"
   if mode == "ping" then
      for line in io.lines(path) do
         if #line > 0 then uuids[#uuids + 1] = line end
      end
   end
end

function request()
   if mode ~= "ping" then
      return wrk.format("GET", path)
   end
   sent = sent + 1
   local uuid = uuids[(sent - 1) % #uuids + 1]
   return wrk.format("GET", "/ping/" .. uuid .. "/0")
end

function response(status, headers, body)
   if status == 200 then
      ok = ok + 1
   elseif status == 429 then
      limited = limited + 1
   else
      other = other + 1
   end
end

function done(summary, latency, requests)
   local out_path = threads[1]:get("out_path")
   local total_ok, total_other, total_limited = 0, 0, 0
   for _, thread in ipairs(threads) do
      total_ok = total_ok + thread:get("ok")
      total_other = total_other + thread:get("other")
      total_limited = total_limited + thread:get("limited")
   end
   local errors = summary.errors
   local out = io.open(out_path, "w")
   out:write(string.format(
      '{"requests": %d, "duration_us": %d, "ok": %d, "limited": %d, "other": %d, '
         .. '"socket_errors": %d, "latency_us": {"p50": %d, "p90": %d, "p99": %d, "max": %d}}\n',
      summary.requests, summary.duration, total_ok, total_limited, total_other,
      errors.connect + errors.read + errors.write + errors.timeout,
      latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max
   ))
   out:close()
end
