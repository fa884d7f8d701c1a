-- kv.lua: a Lua decoder (decoder = "plugins/decoders/kv.lua") for lines of
-- key=value pairs: `level=warn took=12.5 msg="disk almost full"`.
--
-- Each pair becomes a field: a value that reads as a number (tonumber) is a
-- float field, any other a string field; a value in double quotes is a
-- string and may hold spaces (\" and \\ escape inside). A word without `=`
-- is ignored. The message has Type read_config("type") ("kv" when unset)
-- and keeps the line as Payload; a `level` pair sets Severity when it names
-- a syslog level. A line with no pair fails: -1 and why, so that the input
-- counts it and sends it to its dead_letter subject.

local msg_type = read_config("type") or "kv"

local severities = {
  emerg = 0, emergency = 0, alert = 1, crit = 2, critical = 2, err = 3, error = 3,
  warn = 4, warning = 4, notice = 5, info = 6, debug = 7,
}

-- number reads a decimal number, with an exponent or not; nil for anything
-- else (tonumber would also read "0x1f"; gopher-lua's reads no exponent).
local function number(v)
  if not string.find(v, "^[-+]?%.?%d") then return nil end
  local mantissa, exponent = string.match(v, "^([-+]?[%d%.]+)[eE]([-+]?%d+)$")
  if mantissa then
    local m, e = tonumber(mantissa), tonumber(exponent)
    return m and e and m * 10 ^ e
  end
  return string.find(v, "^[-+]?[%d%.]+$") and tonumber(v)
end

-- parse returns the pairs of line as a table name -> value, and their count.
local function parse(line)
  local fields, n, pos, len = {}, 0, 1, #line
  while pos <= len do
    local s, e, key = string.find(line, "^%s*([%w_%.%-]+)=", pos)
    if not s then
      -- not a pair: skip the word
      local ws = string.find(line, "%s", pos)
      if not ws then break end
      pos = ws + 1
    else
      pos = e + 1
      local value
      if string.sub(line, pos, pos) == '"' then
        local parts, i = {}, pos + 1
        while true do
          local c = string.sub(line, i, i)
          if c == "" then return nil, 0, "unterminated quote after " .. key end
          if c == '"' then break end
          if c == "\\" then
            i = i + 1
            c = string.sub(line, i, i)
          end
          parts[#parts + 1] = c
          i = i + 1
        end
        value = table.concat(parts)
        pos = i + 1
      else
        local v = string.match(line, "^[^%s]*", pos)
        pos = pos + #v
        value = number(v) or v
      end
      if fields[key] == nil then n = n + 1 end
      fields[key] = value -- a key given twice keeps its last value
    end
  end
  return fields, n
end

function process_message()
  local line = read_message("Payload")
  local fields, n, err = parse(line)
  if err then return -1, err end
  if n == 0 then return -1, "no key=value pair" end
  local severity = 6
  if type(fields.level) == "string" then
    severity = severities[string.lower(fields.level)] or 6
  end
  inject_message{Type = msg_type, Payload = line, Severity = severity, Fields = fields}
  return 0
end
