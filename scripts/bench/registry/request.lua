-- wrk script shared by every phase of scripts/bench/registry/run.sh.
--
--   wrk ... -s request.lua URL -- METHOD PATH [BODY_FILE|-] [N] [RUNS_FILE|-]
--
-- PATH and the body (read from BODY_FILE) are templates:
--   {v}    a random integer in 1..N (a model version)
--   {run}  a random line of RUNS_FILE (a run id)
--   {step} a counter, distinct per thread and per request (metric steps)
--   {ts}   the current time in milliseconds
-- `done` prints one machine-readable RESULT line that run.sh turns into a table row.

local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("tid", counter)
end

local method, path_t, body_t, n, runs, tid, step

local function read_file(name)
  local f = assert(io.open(name, "r"), "cannot open " .. name)
  local text = f:read("*a")
  f:close()
  return text
end

function init(args)
  method = args[1] or "GET"
  path_t = args[2] or "/"
  if args[3] and args[3] ~= "-" then
    body_t = read_file(args[3]):gsub("%s+$", "")
    wrk.headers["Content-Type"] = "application/json"
  end
  n = tonumber(args[4] or "1") or 1
  runs = {}
  if args[5] and args[5] ~= "-" then
    for line in io.lines(args[5]) do
      if #line > 0 then runs[#runs + 1] = line end
    end
  end
  tid = tid or 0
  step = tid * 100000000
  math.randomseed(os.time() * 1000 + tid)
end

local function fill(template)
  if template == nil then return nil end
  local out = template
  if out:find("{v}", 1, true) then
    out = out:gsub("{v}", tostring(math.random(1, n)))
  end
  if out:find("{run}", 1, true) then
    out = out:gsub("{run}", runs[math.random(1, #runs)])
  end
  if out:find("{step}", 1, true) then
    step = step + 1
    out = out:gsub("{step}", tostring(step))
  end
  if out:find("{ts}", 1, true) then
    out = out:gsub("{ts}", tostring(os.time() * 1000))
  end
  return out
end

function request()
  return wrk.format(method, fill(path_t), nil, fill(body_t))
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
