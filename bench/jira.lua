-- jira.lua - wrk request for POST /v1/webhooks/jira: the Jira Cloud webhook
-- body with the X-Hub-Signature bench/http_bench.sh computes over its bytes
-- (sources.jira.hmac_secret). No delivery id, so every request is evaluated.
-- Environment: TG_BENCH_BODY (file of the JSON body), TG_BENCH_SIG ("sha256=<hex>").
local f = assert(io.open(assert(os.getenv("TG_BENCH_BODY")), "rb"))
wrk.method = "POST"
wrk.path = "/v1/webhooks/jira"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-Hub-Signature"] = assert(os.getenv("TG_BENCH_SIG"))
