-- POST batches of 500 readings. Every request carries new timestamps (thread id and a counter
-- pick a disjoint time range), so each batch inserts 500 new rows rather than updating.
local token = os.getenv("AQUA_TOKEN")
local path = os.getenv("AQUA_POST_PATH")
local batch = 500
local base = 1735689600  -- 2025-01-01T00:00:00Z
local run = tonumber(os.getenv("AQUA_RUN") or "0")
local slot_requests = 5000  -- requests one thread may send in one run without overlapping
local counter = 0
thread_index = 0  -- global: set per thread by setup()

local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("thread_index", threads)
end

function init(args)
  wrk.method = "POST"
  wrk.headers["Authorization"] = "Bearer " .. token
  wrk.headers["Content-Type"] = "application/json"
end

function request()
  counter = counter + 1
  local slot = run * 4 + thread_index
  local start = base + (slot * slot_requests + counter) * batch * 60
  local items = {}
  for i = 0, batch - 1 do
    items[#items + 1] = string.format(
      '{"sensor":"dissolved_oxygen","ts":"%s","value":%.2f}',
      os.date("!%Y-%m-%dT%H:%M:%SZ", start + i * 60), 4 + (i % 50) / 10)
  end
  return wrk.format(nil, path, nil, '{"readings":[' .. table.concat(items, ",") .. ']}')
end

dofile(os.getenv("AQUA_BENCH_DIR") .. "/report.lua")
