-- check_distinct.lua - wrk requests for POST /v1/check where every request
-- is another ticket (id and justification made unique with a counter), as
-- an ITSM's real traffic is; check.lua repeats one ticket. The same Bearer
-- JWT as check.lua. Environment: TG_BENCH_BODY, TG_BENCH_TOKEN.
local f = assert(io.open(assert(os.getenv("TG_BENCH_BODY")), "rb"))
local body = f:read("*a")
f:close()
local headers = {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. assert(os.getenv("TG_BENCH_TOKEN")),
}
local n = 0
local threads = 0

-- Each wrk thread gets its own prefix, so ids never collide across them;
-- TG_BENCH_TAG tells apart wrk processes run side by side (bench/pg_bench.sh).
function setup(thread)
    threads = threads + 1
    thread:set("tag", (os.getenv("TG_BENCH_TAG") or "") .. "t" .. threads .. "x" .. tostring(os.time()))
end

function request()
    n = n + 1
    local id = tag .. "-" .. n
    -- The counter goes into the justification as a change number, so that
    -- no two tickets share one (copy-forward would rightly flag them).
    local b = body:gsub('"id": "[^"]*"', '"id": "BENCH-' .. id .. '"', 1)
    b = b:gsub("CHG0031337", "CHG" .. id, 1)
    return wrk.format("POST", "/v1/check", headers, b)
end
