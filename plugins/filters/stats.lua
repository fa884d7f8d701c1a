-- stats: summary statistics of a field per key and per interval.
--
-- Every message with config `field` adds its value to its key's interval.
-- On each timer_event, for every key seen since the last one (in key order),
-- it injects a metric point and then forgets the interval:
--
--   Type       "metric"
--   Timestamp  the timer_event's time
--   Fields     name = config measurement (default "stats"); count (an int),
--              sum, mean, min, max, p50, p90, p99 (floats)
--   Tags       the key's tags (see key_fields), plus field = the field
--              (which wins over a tag of the same name)
--
-- An interval with no values injects nothing.
--
-- Keys (config key_fields):
--   * not set: the series, a metric's measurement and tags (all of them, or
--     config tags = [...]); the point is tagged with those tags plus
--     series = the measurement;
--   * a list of field names, e.g. ["status", "method"]: the values of those
--     fields (as strings; a field the message lacks is left out); the point
--     is tagged with them.
--
-- Percentiles are nearest-rank: pN is the smallest value with at least N%
-- of the values at or below it (p50 of 1, 2, 3, 4 is 2). They are exact
-- while a key has at most max_samples values in the interval (default
-- 10000); beyond that they are computed on a uniform random sample of
-- max_samples values (reservoir sampling, with a fixed-seed generator so
-- that a run can be repeated). count, sum, mean, min and max are always
-- exact.
--
-- Config: field (required), measurement, key_fields, tags, max_samples,
-- max_keys (keys per interval, default 10000; values of further keys are
-- ignored, counted, and reported by a message of Type "stats.warning" on
-- the timer_event).
--
-- A message without the field is ignored (0); one whose field is not a
-- number fails (-1, "field X is not a number").

local series = require "series"

local field = read_config("field")
if type(field) ~= "string" or field == "" then
    error("config field is required: the name of the field to summarise", 0)
end
local measurement = read_config("measurement") or "stats"
if type(measurement) ~= "string" or measurement == "" then
    error("config measurement must be a non-empty string", 0)
end
local key_fields = series.names(read_config("key_fields"), "config key_fields")
local tag_names = series.names(read_config("tags"), "config tags")
local max_samples = read_config("max_samples") or 10000
if type(max_samples) ~= "number" or max_samples < 1 or max_samples ~= math.floor(max_samples) then
    error("config max_samples must be an integer of at least 1", 0)
end
local max_keys = read_config("max_keys") or 10000
if type(max_keys) ~= "number" or max_keys < 1 then
    error("config max_keys must be a number of at least 1", 0)
end

local field_ref = "Fields[" .. field .. "]"
local key_refs = {}
for i, k in ipairs(key_fields or {}) do
    key_refs[i] = "Fields[" .. k .. "]"
end

-- The shape of the globals below; change it when they change, so that
-- preserve_data starts clean instead of restoring a state this version
-- does not understand.
_PRESERVATION_VERSION = 1

-- Global, so that preserve_data carries an interval across a reload.
intervals = intervals or {} -- key -> {tags, count, sum, min, max, samples}
n_keys = n_keys or 0
ignored = ignored or 0 -- values of keys beyond max_keys in this interval
seed = seed or 20260101 -- the sampling generator's state

-- Park-Miller "minimal standard" generator: exact in doubles (the product
-- stays below 2^46), the same sequence everywhere.
local function random(n)
    seed = (seed * 16807) % 2147483647
    return seed % n + 1 -- 1..n; the modulo bias is below n/2^31
end

local function read_key()
    local tags = {}
    if key_fields then
        for i, k in ipairs(key_fields) do
            local v = read_message(key_refs[i])
            if v ~= nil then
                tags[k] = tostring(v)
            end
        end
        return series.key("", tags), tags
    end
    local m, t, key = series.read(tag_names)
    for k, v in pairs(t) do
        tags[k] = v
    end
    tags.series = m
    return key, tags
end

function process_message()
    local v = read_message(field_ref)
    if v == nil then
        return 0
    end
    if type(v) ~= "number" then
        return -1, "field " .. field .. " is not a number"
    end
    local key, tags = read_key()
    local s = intervals[key]
    if not s then
        if n_keys >= max_keys then
            ignored = ignored + 1
            return 0
        end
        s = {tags = tags, count = 0, sum = 0, min = v, max = v, samples = {}}
        intervals[key] = s
        n_keys = n_keys + 1
    end
    s.count = s.count + 1
    s.sum = s.sum + v
    if v < s.min then s.min = v end
    if v > s.max then s.max = v end
    if s.count <= max_samples then
        s.samples[s.count] = v
    else
        local j = random(s.count) -- keep v with probability max_samples/count
        if j <= max_samples then
            s.samples[j] = v
        end
    end
    return 0
end

-- percentile(sorted, p) is the nearest-rank p-th percentile of sorted.
local function percentile(sorted, p)
    local rank = math.ceil(p * #sorted / 100) -- p * n is exact; p / 100 is not
    if rank < 1 then rank = 1 end
    return sorted[rank]
end

function timer_event(ns)
    local keys = {}
    for k in pairs(intervals) do
        keys[#keys + 1] = k
    end
    table.sort(keys)
    for _, k in ipairs(keys) do
        local s = intervals[k]
        table.sort(s.samples)
        local tags = {}
        for name, v in pairs(s.tags) do
            tags[name] = v
        end
        tags.field = field
        inject_message({
            Type = "metric",
            Timestamp = ns,
            Tags = tags,
            Fields = {
                name = measurement,
                count = {value = s.count, type = "int"},
                sum = s.sum,
                mean = s.sum / s.count,
                min = s.min,
                max = s.max,
                p50 = percentile(s.samples, 50),
                p90 = percentile(s.samples, 90),
                p99 = percentile(s.samples, 99),
            },
        })
    end
    if ignored > 0 then
        inject_message({
            Type = "stats.warning",
            Severity = 4,
            Timestamp = ns,
            Payload = string.format("max_keys (%d) reached: %d values of further keys ignored in this interval",
                max_keys, ignored),
            Fields = {max_keys = max_keys, ignored = ignored},
        })
    end
    intervals = {}
    n_keys = 0
    ignored = 0
end
