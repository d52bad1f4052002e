-- wrk script for `python -m bench`: POSTs pre-signed TaskRouter events, each with its own Sid.
-- args: <bodies file> <thread count> <path> [content type]. Each line of the file is
-- "<signature>\t<body>", or "<path and query>\t<signature>\t<body>" (an Event Streams batch, whose
-- URL carries its body's hash);
-- thread t of T sends lines t+1, t+1+T, t+1+2T, ... so no Sid repeats across threads (a repeat
-- would be answered from the dedupe key, a shortcut). Running out wraps around and is reported.
local threads = {}
local counter = 0

function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

function init(args)
  paths, sigs, bodies, n = {}, {}, {}, 0
  path = args[3]
  content_type = args[4] or "application/x-www-form-urlencoded"
  for line in io.lines(args[1]) do
    local tab = line:find("\t", 1, true)
    local second = line:find("\t", tab + 1, true)
    n = n + 1
    if second then
      paths[n] = line:sub(1, tab - 1)
      sigs[n] = line:sub(tab + 1, second - 1)
      bodies[n] = line:sub(second + 1)
    else
      paths[n] = path
      sigs[n] = line:sub(1, tab - 1)
      bodies[n] = line:sub(tab + 1)
    end
  end
  nthreads = tonumber(args[2])
  sent = 0
  wrapped = 0
end

function request()
  local k = tid + sent * nthreads + 1
  sent = sent + 1
  if k > n then
    wrapped = wrapped + 1
    k = ((k - 1) % n) + 1
  end
  return wrk.format("POST", paths[k], {
    ["Content-Type"] = content_type,
    ["X-Twilio-Signature"] = sigs[k],
  }, bodies[k])
end

function done(summary, latency, requests)
  local w = 0
  for _, t in ipairs(threads) do
    w = w + (t:get("wrapped") or 0)
  end
  io.write(string.format(
    'BENCH {"requests":%d,"duration_us":%d,"status_errors":%d,"connect_errors":%d,"read_errors":%d,' ..
    '"write_errors":%d,"timeouts":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,"wrapped":%d}\n',
    summary.requests, summary.duration, summary.errors.status, summary.errors.connect,
    summary.errors.read, summary.errors.write, summary.errors.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, w))
end
