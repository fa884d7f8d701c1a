-- A Lua module for the require tests.
local M = {}

local count = 0

function M.hello(name)
  count = count + 1
  return "hello " .. name
end

function M.count()
  return count
end

return M
