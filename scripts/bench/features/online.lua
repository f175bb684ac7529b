-- wrk script for the online-serving rows of scripts/bench/features/run.sh.
--
--   wrk ... -s online.lua URL -- PATH FEATURES ENTITIES MAX_ID
--
-- Every request is `POST PATH` with a Feast-format body:
--   {"features":[FEATURES...],"entities":{"driver_id":[ENTITIES ids]}}
-- FEATURES is comma-separated (`view:feature,...`). The ids rotate through 1..MAX_ID: request
-- k of thread t starts at ((t * 7919 + k * 104729 * ENTITIES) mod MAX_ID) + 1 and takes
-- ENTITIES consecutive ids (wrapping), so requests do not repeat one key.
-- `done` prints one machine-readable RESULT line that run.sh turns into a table row.

local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("tid", counter)
end

local path, features_json, per_request, max_id, tid, k

function init(args)
  path = args[1] or "/get-online-features"
  local quoted = {}
  for feature in string.gmatch(args[2] or "", "[^,]+") do
    quoted[#quoted + 1] = '"' .. feature .. '"'
  end
  features_json = table.concat(quoted, ",")
  per_request = tonumber(args[3] or "1") or 1
  max_id = tonumber(args[4] or "1") or 1
  tid = tid or 0
  k = 0
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
end

function request()
  k = k + 1
  local first = (tid * 7919 + k * 104729 * per_request) % max_id
  local ids = {}
  for i = 0, per_request - 1 do
    ids[#ids + 1] = tostring((first + i) % max_id + 1)
  end
  local body = '{"features":[' .. features_json .. '],"entities":{"driver_id":[' ..
    table.concat(ids, ",") .. ']}}'
  return wrk.format(nil, path, nil, body)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "RESULT requests=%d duration_us=%d p50_us=%d p90_us=%d p99_us=%d max_us=%d " ..
    "non2xx=%d connect=%d read=%d write=%d timeout=%d\n",
    summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    e.status, e.connect, e.read, e.write, e.timeout))
end
