-- A toy detector for eval's tests, following eval's contract: a point's
-- score is its jump from the point before, relative to it,
-- min(1, |v - prev| / (|prev| + 1)); a score of at least 0.5 is an event,
-- reported at once with change_time = the point's time. Config:
--   field        the value's field
--   emit_scores  inject an "anomaly.score" message for every point
--   mode         to break the contract on the third point: "skip" (no
--                score), "twice" (two scores), "range" (a score of 2),
--                "late" (a score at the next point's time)
local field = read_config("field")
local emit = read_config("emit_scores") == true
local mode = read_config("mode") or ""
local prev
local n = 0

function process_message()
    local v = read_message("Fields[" .. field .. "]")
    if v == nil then
        return -1, "no field " .. field
    end
    local ts = read_message("Timestamp")
    n = n + 1
    local s = 0
    if prev then
        s = math.min(1, math.abs(v - prev) / (math.abs(prev) + 1))
    end
    prev = v
    if s >= 0.5 then
        inject_message({Type = "anomaly", Timestamp = ts, Fields = {change_time = tostring(ts), score = s}})
    end
    if not emit then
        return 0
    end
    if n == 3 and mode == "skip" then
        return 0
    end
    local score = s
    if n == 3 and mode == "range" then
        score = 2
    end
    local at = ts
    if n == 3 and mode == "late" then
        at = ts + 1
    end
    inject_message({Type = "anomaly.score", Timestamp = at, Fields = {score = score}})
    if n == 3 and mode == "twice" then
        inject_message({Type = "anomaly.score", Timestamp = ts, Fields = {score = score}})
    end
    return 0
end
