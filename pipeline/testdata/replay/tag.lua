-- Test script for replay: passes every record on as it came (inject_message
-- without a table), with a tag added to even values.
function process_message()
    if read_message("Fields[value]") % 2 == 0 then
        write_message("Tags[parity]", "even")
    end
    inject_message()
    return 0
end
