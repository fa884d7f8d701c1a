-- A filter that counts messages per type and reports them on a timer.
_PRESERVATION_VERSION = 1

counts = {}
total = 0

function process_message()
  local typ = read_message("Type")
  counts[typ] = (counts[typ] or 0) + 1
  total = total + 1
  return 0
end

function timer_event(ns)
  for typ, n in pairs(counts) do
    add_to_payload(typ, "=", n, "\n")
  end
  inject_payload("txt", "counts")
end
