-- wrk script of bench/flows.sh: POST grant_type=refresh_token.
--
-- Env: TOKEN   one refresh token that does not rotate: every request sends it (static body);
--      TOKENS  comma-separated refresh tokens that rotate, one per wrk thread (run with
--              -t K -c K): each thread is a closed-loop chain that always sends the newest
--              token it was given;
--      AUTH    Authorization header (confidential clients); CLIENT_ID (public clients:
--              sent in the body instead).
-- Prints EXTRA lines: p50/p90/p99 latency, request and error counts, broken chains.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
if os.getenv("AUTH") then wrk.headers["Authorization"] = os.getenv("AUTH") end

local function urlencode(s)
  return (s:gsub("[^%w%-%._~]", function(c) return string.format("%%%02X", string.byte(c)) end))
end

local suffix = ""
if os.getenv("CLIENT_ID") then suffix = "&client_id=" .. urlencode(os.getenv("CLIENT_ID")) end

local rotating = os.getenv("TOKENS") ~= nil
if not rotating then
  wrk.body = "grant_type=refresh_token&refresh_token=" .. urlencode(os.getenv("TOKEN")) .. suffix
end

-- Main state: hand one token to each thread.
local threads = {}
local counter = 0
function setup(thread)
  counter = counter + 1
  if rotating then
    local list = {}
    for t in string.gmatch(os.getenv("TOKENS"), "[^,]+") do list[#list + 1] = t end
    if counter > #list then error("more threads than TOKENS") end
    thread:set("chain_token", list[counter])
  end
  table.insert(threads, thread)
end

-- Thread states.
bad = 0
rotated = 0
if rotating then
  request = function()
    return wrk.format(nil, nil, nil,
      "grant_type=refresh_token&refresh_token=" .. urlencode(chain_token) .. suffix)
  end
  -- Only the chains read the responses (wrk counts non-2xx answers on its own).
  response = function(status, headers, body)
    if status ~= 200 then
      bad = bad + 1
      return
    end
    local next = string.match(body, '"refresh_token"%s*:%s*"([^"]+)"')
    if next and next ~= chain_token then
      chain_token = next
      rotated = rotated + 1
    end
  end
end

done = function(summary, latency, requests)
  local bad_total, rotated_total = 0, 0
  for _, t in ipairs(threads) do
    bad_total = bad_total + (t:get("bad") or 0)
    rotated_total = rotated_total + (t:get("rotated") or 0)
  end
  io.write(string.format("EXTRA requests=%d non200=%d rotated=%d errors_connect=%d read=%d write=%d timeout=%d\n",
    summary.requests, bad_total, rotated_total, summary.errors.connect, summary.errors.read,
    summary.errors.write, summary.errors.timeout))
  for _, p in pairs({50, 90, 99}) do
    io.write(string.format("EXTRA p%g=%.2fms\n", p, latency:percentile(p) / 1000))
  end
end
