-- wrk script of scripts/bench/serving/run.sh.
--
--   wrk ... -s request.lua URL -- PATH KIND ENTITIES MAX_ID [FEATURES]
--
-- KIND `online`: `POST PATH` with {"features":[FEATURES...],"entities":{"driver_id":[ids]}}
-- (Lathe's /features/online, Feast's /get-online-features); FEATURES is comma-separated.
-- KIND `predict`: `POST PATH` with {"entities":{"driver_id":[ids]}} (Lathe's predict).
-- The ids rotate through 1..MAX_ID as glue.py rotates them: request k of thread t starts at
-- ((t * 7919 + k * 104729 * ENTITIES) mod MAX_ID) + 1 and takes ENTITIES consecutive ids.
-- `done` prints one RESULT line that run.sh records.

local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("tid", counter)
end

local path, kind, features_json, per_request, max_id, tid, k

function init(args)
  path = args[1]
  kind = args[2] or "online"
  per_request = tonumber(args[3] or "1") or 1
  max_id = tonumber(args[4] or "1") or 1
  local quoted = {}
  for feature in string.gmatch(args[5] or "", "[^,]+") do
    quoted[#quoted + 1] = '"' .. feature .. '"'
  end
  features_json = table.concat(quoted, ",")
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
  local entities = '"entities":{"driver_id":[' .. table.concat(ids, ",") .. ']}'
  local body
  if kind == "predict" then
    body = '{' .. entities .. '}'
  else
    body = '{"features":[' .. features_json .. '],' .. entities .. '}'
  end
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
