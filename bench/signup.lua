-- wrk script for bench/signup.py: POST a sign-up with a different address on every request.
-- Usage: wrk -s bench/signup.lua URL -- PREFIX   (PREFIX keeps the addresses of repeated runs apart)
local counter = 0
local prefix = "run"
local threads = {}

function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end

function init(args)
  prefix = args[1] or prefix
end

function request()
  counter = counter + 1
  local body = string.format('{"email":"%s.%d.%d@beispiel.example","consent_text_version":1}', prefix, tid or 0, counter)
  return wrk.format("POST", nil, {["Content-Type"] = "application/json"}, body)
end

function done(summary, latency, requests)
  io.write(string.format("latency_p50_ms=%.2f latency_p99_ms=%.2f requests=%d non2xx_or_errors=%d\n",
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, summary.requests,
    summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
