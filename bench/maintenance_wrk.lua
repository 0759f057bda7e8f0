-- wrk script of bench/maintenance_bench.py (run by it).
--
--   wrk -t1 -c8 -d10s -s bench/maintenance_wrk.lua http://127.0.0.1:PORT -- MODE PATH OUT BODY TOKENS CONTENT
--
-- MODE    "bare": GET PATH (200 expected); "report": POST the body of file BODY to PATH (a host's patch
--         report, 202 expected) with "Authorization: Bearer <token>", the tokens of file TOKENS (one a
--         line) taken in turn, so the reports come from many hosts. Every report is the same: the bench
--         measures the steady state, a host sending its previous report again.
-- OUT     file that done() writes: JSON figures.
-- CONTENT "json": BODY is sent as it is (application/json); "multipart" (what the agent sends, with curl -F):
--         BODY is a multipart/form-data body whose boundary is written @@BOUNDARY@@, replaced by a new
--         boundary for every request as curl does.

local threads = {}

function setup(thread)
   thread:set("thread_id", #threads + 1)
   table.insert(threads, thread)
end

local mode, path, body, content
local body_parts = {}
local tokens = {}
local sent = 0
accepted = 0
refused = 0
first_refused = ""

local function read(name)
   local file = assert(io.open(name, "r"))
   local text = file:read("*a")
   file:close()
   return text
end

function init(args)
   mode, path = args[1], args[2]
   out_path = args[3]
   wrk.headers["X-Forwarded-Proto"] = "https"
   if mode == "report" then
      body = read(args[4])
      for line in string.gmatch(read(args[5]), "[^\n]+") do
         tokens[#tokens + 1] = line
      end
      content = args[6] or "json"
      if content == "multipart" then
         local start = 1
         while true do
            local first, last = string.find(body, "@@BOUNDARY@@", start, true)
            if not first then
               break
            end
            body_parts[#body_parts + 1] = string.sub(body, start, first - 1)
            start = last + 1
         end
         body_parts[#body_parts + 1] = string.sub(body, start)
      end
   end
end

function request()
   if mode == "bare" then
      return wrk.format("GET", path)
   end
   sent = sent + 1
   local token = tokens[(sent + thread_id * 7919) % #tokens + 1]
   local content_type, payload = "application/json", body
   if content == "multipart" then
      local boundary = string.format("------------------------%08x%08x", math.random(0, 0x7fffffff), sent)
      payload = table.concat(body_parts, boundary)
      content_type = "multipart/form-data; boundary=" .. boundary
   end
   -- wrk.format uses the headers given instead of wrk.headers: all of them here.
   return wrk.format("POST", path, {
      ["Authorization"] = "Bearer " .. token,
      ["Content-Type"] = content_type,
      ["X-Forwarded-Proto"] = "https",
   }, payload)
end

local EXPECTED = {bare = 200, report = 202}

function response(status, headers, body)
   if status == EXPECTED[mode] then
      accepted = accepted + 1
   else
      refused = refused + 1
      if first_refused == "" then
         first_refused = string.format("%d %s", status, string.sub(body or "", 1, 300))
      end
   end
end

function done(summary, latency, requests)
   local out_path = threads[1]:get("out_path")
   local total_accepted, total_refused, sample = 0, 0, ""
   for _, thread in ipairs(threads) do
      total_accepted = total_accepted + thread:get("accepted")
      total_refused = total_refused + thread:get("refused")
      if sample == "" then
         sample = thread:get("first_refused")
      end
   end
   local errors = summary.errors
   local out = io.open(out_path, "w")
   out:write(string.format(
      '{"requests": %d, "duration_us": %d, "accepted": %d, "refused": %d, '
         .. '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, '
         .. '"latency_us": {"mean": %.1f, "p50": %d, "p90": %d, "p99": %d, "max": %d}}\n',
      summary.requests, summary.duration, total_accepted, total_refused,
      errors.connect, errors.read, errors.write, errors.status, errors.timeout,
      latency.mean, latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max
   ))
   out:write(sample, "\n")
   out:close()
end
