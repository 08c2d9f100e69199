-- wrk script of the benchmark: done() prints one JSON line with the counts and percentiles.
-- With BENCH_CREATE_TAG set, every request creates an attendee with an email of its own
-- (tag-thread-counter@bench.example.org), so no create is refused as a duplicate.
local tag = os.getenv("BENCH_CREATE_TAG")
-- BENCH_HEADERS (our stacks: the credential, an API token or a session cookie), one
-- "Name: value" per line: every request sends them.
for line in (os.getenv("BENCH_HEADERS") or ""):gmatch("[^\n]+") do
  local name, value = line:match("^([^:]+):%s*(.*)$")
  wrk.headers[name] = value
end

if tag then
  local threads = 0

  function setup(thread)
    threads = threads + 1
    thread:set("thread_number", threads)
  end

  local sent = 0
  local headers = { ["Content-Type"] = "application/json" }
  for name, value in pairs(wrk.headers) do
    headers[name] = value
  end
  local body = '{"full_name":"Bench Attendee %d","email":"%s-%d-%d@bench.example.org",'
    .. '"year_of_birth":1999,"gender":"other","university":"Bench University",'
    .. '"major":"Load Testing"}'

  function request()
    sent = sent + 1
    return wrk.format("POST", nil, headers, string.format(body, sent, tag, thread_number, sent))
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests":%d,"duration_us":%d,"status_errors":%d,"socket_errors":%d,'
      .. '"p50_us":%d,"p99_us":%d}\n',
    summary.requests, summary.duration, e.status, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
