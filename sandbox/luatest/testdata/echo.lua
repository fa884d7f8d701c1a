-- For luatest's own tests: injects what it reads, fails when asked to.
local prefix = read_config("prefix") or ""

function process_message()
    local payload = read_message("Payload")
    if payload == "fail" then
        return -1, "asked to fail"
    end
    inject_message({
        Type = prefix .. "echo",
        Payload = payload,
        Fields = {n = read_message("Fields[n]"), label = read_message("Fields[label]")},
    })
    return 0
end

function timer_event(ns)
    inject_message({Type = "tick", Timestamp = ns})
end
