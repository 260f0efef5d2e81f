-- check.lua - wrk request for POST /v1/check: the canonical ticket with a
-- Bearer JWT that bench/http_bench.sh mints once (sources.generic, HS256).
-- Environment: TG_BENCH_BODY (file of the JSON body), TG_BENCH_TOKEN.
local f = assert(io.open(assert(os.getenv("TG_BENCH_BODY")), "rb"))
wrk.method = "POST"
wrk.path = "/v1/check"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. assert(os.getenv("TG_BENCH_TOKEN"))
