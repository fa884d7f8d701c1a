-- Each line names what the script does with it: fails it, skips it, injects
-- twice, or injects one message.
function process_message()
  local p = read_message("Payload")
  if p == "bad" then return -1, "bad line" end
  if p == "negative" then return -2 end
  if p == "raise" then error("boom") end
  if p == "twice" then inject_message{Type = "a"}; inject_message{Type = "b"} end
  if p == "twice_caught" then inject_message{Type = "a"}; pcall(inject_message, {Type = "b"}) end
  if p == "skip" then return 0 end
  inject_message{Type = "ok", Timestamp = 7}
end
