-- Test script for replay: hears the records and another filter's output,
-- and says in what order, with an hourly count.
local n = 0

function process_message()
    n = n + 1
    inject_payload("txt", "order", string.format("%d %s %g", n, read_message("Type"), read_message("Fields[value]")))
    return 0
end

function timer_event(ns)
    inject_payload("txt", "tick", string.format("tick %s after %d", tostring(ns), n))
end
