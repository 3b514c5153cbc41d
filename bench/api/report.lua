-- Shared by the scenarios: print one JSON line with throughput, latency percentiles and errors.
-- wrk gives latencies in microseconds and the duration in microseconds.
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'AQUA_RESULT {"requests": %d, "duration_s": %.3f, "rps": %.1f, ' ..
    '"p50_ms": %.3f, "p95_ms": %.3f, "p99_ms": %.3f, "max_ms": %.3f, ' ..
    '"connect_errors": %d, "read_errors": %d, "write_errors": %d, "timeouts": %d, "non_2xx": %d}\n',
    summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(95) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000, e.connect, e.read, e.write, e.timeout, e.status))
end
