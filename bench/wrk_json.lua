-- wrk_json.lua - makes wrk print its result as one JSON line.
--
-- Used by bench/http_health.sh:  wrk -s bench/wrk_json.lua ... http://127.0.0.1:PORT/v1/health
-- wrk's own human-readable report still goes to stdout first; the JSON is the last line,
-- prefixed with "WRK_JSON " so the caller can pick it out.
--
-- Latencies are wrk's per-request latencies in microseconds (wrk measures from just before
-- the request is written to when the whole response has been parsed).

local function num(x)
   -- integers as integers, everything else with one decimal; never "nan"/"inf" in JSON
   if x == nil or x ~= x or x == math.huge or x == -math.huge then return "null" end
   if x == math.floor(x) then return string.format("%d", x) end
   return string.format("%.1f", x)
end

function done(summary, latency, requests)
   local secs = summary.duration / 1e6
   local e = summary.errors
   local total_errors = e.connect + e.read + e.write + e.status + e.timeout
   local rps = 0
   if secs > 0 then rps = summary.requests / secs end
   local out = string.format(
      '{"requests":%s,"wall_s":%.3f,"requests_per_s":%.1f,' ..
      '"latency_us":{"p50":%s,"p90":%s,"p99":%s,"p99.9":%s,"mean":%s,"stdev":%s,"min":%s,"max":%s},' ..
      '"errors":%d,"error_detail":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
      '"bytes":%d}',
      num(summary.requests), secs, rps,
      num(latency:percentile(50)), num(latency:percentile(90)),
      num(latency:percentile(99)), num(latency:percentile(99.9)),
      num(latency.mean), num(latency.stdev), num(latency.min), num(latency.max),
      total_errors, e.connect, e.read, e.write, e.status, e.timeout,
      summary.bytes)
   io.write("WRK_JSON " .. out .. "\n")
end
