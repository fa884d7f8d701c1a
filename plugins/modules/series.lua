-- series: what identifies a series of messages, for plugins that keep state
-- per series (change_detect, stats).
--
--   local series = require "series"
--   local measurement, tags, key = series.read(tag_names)
--
-- measurement is the metric's measurement (Fields[name] of a message of
-- Type "metric"); for any other message, its Logger, or its Type when it has
-- no Logger. tags is a table tag name -> value:
--   * with tag_names (a list of names, e.g. read_config("tags")), the fields
--     of those names that the message has, values as strings; a metric
--     series is then identified by those tags only (the others, say a
--     request id, do not split it);
--   * without, every tag of the message, from read_message("Tags").
-- key is series.key(measurement, tags).

local M = {}

local function escape(s, specials)
    return (string.gsub(s, specials, "\\%0"))
end

-- key(measurement, tags) is the series in line protocol's form, tags sorted
-- by name and escaped as line protocol escapes them:
-- cpu,cpu=cpu0,host=a\ b. Two series have the same key only if they have
-- the same measurement and tags.
function M.key(measurement, tags)
    local names = {}
    for k in pairs(tags) do
        names[#names + 1] = k
    end
    table.sort(names)
    local parts = {escape(measurement, "[, ]")}
    for _, k in ipairs(names) do
        parts[#parts + 1] = escape(k, "[,= ]") .. "=" .. escape(tags[k], "[,= ]")
    end
    return table.concat(parts, ",")
end

-- names(tag_names) checks a tag_names config value: nil, or a list of
-- non-empty strings. It returns it, or raises an error naming what.
function M.names(tag_names, what)
    if tag_names == nil then
        return nil
    end
    if type(tag_names) ~= "table" then
        error(what .. " must be a list of tag names, not a " .. type(tag_names), 2)
    end
    for i, k in ipairs(tag_names) do
        if type(k) ~= "string" or k == "" then
            error(string.format("%s[%d] must be a non-empty string", what, i), 2)
        end
    end
    return tag_names
end

local function all_tags()
    return read_message("Tags") or {}
end

function M.read(tag_names)
    local measurement
    local typ = read_message("Type")
    if typ == "metric" then
        measurement = read_message("Fields[name]")
    end
    if type(measurement) ~= "string" or measurement == "" then
        measurement = read_message("Logger")
        if measurement == nil or measurement == "" then
            measurement = typ or ""
        end
    end
    local tags
    if tag_names then
        tags = {}
        for _, k in ipairs(tag_names) do
            local v = read_message("Fields[" .. k .. "]")
            if v ~= nil then
                tags[k] = tostring(v)
            end
        end
    else
        tags = all_tags()
    end
    return measurement, tags, M.key(measurement, tags)
end

return M
