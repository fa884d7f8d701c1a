-- Test script for replay: counts the records between two ticks and injects
-- a summary at each tick, without a Timestamp (so it gets the tick's time);
-- a value above 100 injects a "spike" without a Timestamp (the record's).
local n, first, last = 0, nil, nil

function process_message()
    local ts = read_message("Timestamp")
    n = n + 1
    first = first or ts
    last = ts
    local v = read_message("Fields[value]")
    if v > 100 then
        inject_message({Type = "spike", Fields = {value = v}})
    end
    return 0
end

function timer_event(ns)
    inject_message({Type = "summary", Fields = {count = n, first = first or 0, last = last or 0, tick = ns}})
    n, first, last = 0, nil, nil
end
