-- wrk script of bench/scale.sh.
--
-- Env: BEARER  set: GET (UserInfo) with this access token;
--      else    POST client_credentials (scope api:read) with AUTH as the Authorization
--              header, and ORIGIN, when set, as the Origin header (a browser's CORS call).
if os.getenv("BEARER") then
  wrk.method = "GET"
  wrk.headers["Authorization"] = "Bearer " .. os.getenv("BEARER")
else
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
  wrk.headers["Authorization"] = os.getenv("AUTH")
  wrk.body = "grant_type=client_credentials&scope=api%3Aread"
  if os.getenv("ORIGIN") then wrk.headers["Origin"] = os.getenv("ORIGIN") end
end

done = function(summary, latency, requests)
  io.write(string.format("EXTRA requests=%d errors_connect=%d read=%d write=%d status=%d timeout=%d\n",
    summary.requests, summary.errors.connect, summary.errors.read, summary.errors.write, summary.errors.status, summary.errors.timeout))
  for _, p in pairs({50, 90, 99}) do
    io.write(string.format("EXTRA p%g=%.2fms\n", p, latency:percentile(p) / 1000))
  end
end
