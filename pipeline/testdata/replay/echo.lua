-- Test script for replay: one "seen" message per record, with its value.
function process_message()
    inject_message({Type = "seen", Fields = {value = read_message("Fields[value]"), series = read_message("Fields[name]")}})
    return 0
end
