-- Test script for replay: a "derived" message per record (value * 2), and a
-- second one for every third record.
local n = 0

function process_message()
    local v = read_message("Fields[value]")
    n = n + 1
    inject_message({Type = "derived", Fields = {value = v * 2}})
    if n % 3 == 0 then
        inject_message({Type = "derived", Fields = {value = -v}})
    end
    return 0
end
