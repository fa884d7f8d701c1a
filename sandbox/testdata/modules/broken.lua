-- Does not compile.
local M = {
return M
