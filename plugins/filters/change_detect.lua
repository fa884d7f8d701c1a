-- change_detect: online change-point detection per series.
--
-- For every series (a metric's measurement and tags; see the series module)
-- it feeds config `field` of each message, with the message's Timestamp, to
-- a change detector (the change module: a t-test on the best split of the
-- last `window` values). When a change is confirmed it injects one message
-- of Type "anomaly", shaped as a metric point so that it can be written to
-- InfluxDB next to the data:
--
--   Timestamp  the time of the first value after the change
--   Fields     name = "anomaly"; change_time (ns, a string of digits: exact),
--              before_mean, after_mean, difference, percent (left out when
--              before_mean is 0), confidence, direction ("up" or "down")
--   Tags       the series' tags, plus series = the measurement and
--              field = the field watched (these two win over tags of the
--              same name)
--   Payload    a sentence for people
--
-- Config (read_config):
--   field        required; the field to watch
--   window       values kept per series (default 120)
--   min_samples  values required on each side of a change (default 10)
--   confidence   of the t-test, in (0, 1) (default 0.99)
--   tags         the tags that identify a series (default: all of them)
--   max_series   series watched at most (default 10000); the values of
--                series beyond it are ignored, counted, and reported by a
--                message of Type "change_detect.warning" on the next
--                timer_event (at most one per timer_event)
--   emit_scores  (default false) also inject, for every value, a message of
--                Type "anomaly.score" with the value's Timestamp, a float
--                field score (1 when a change was reported at this value,
--                else 0) and a string field series (the series key): the
--                contract of `interoceptor eval` (internal/eval/README.md)
--
-- A message without the field is ignored (0); one whose field is not a
-- number fails (-1, "field X is not a number").

local change = require "change"
local series = require "series"

local field = read_config("field")
if type(field) ~= "string" or field == "" then
    error("config field is required: the name of the field to watch", 0)
end
local options = {
    window = read_config("window") or 120,
    min_samples = read_config("min_samples") or 10,
    confidence = read_config("confidence") or 0.99,
}
local max_series = read_config("max_series") or 10000
if type(max_series) ~= "number" or max_series < 1 then
    error("config max_series must be a number of at least 1", 0)
end
local tag_names = series.names(read_config("tags"), "config tags")
local emit_scores = read_config("emit_scores") == true
change.new(options) -- a bad window, min_samples or confidence fails here, at load

local field_ref = "Fields[" .. field .. "]"

-- The shape of the globals below; change it when they change, so that
-- preserve_data starts clean instead of restoring a state this version
-- does not understand.
_PRESERVATION_VERSION = 1

-- Global, so that preserve_data carries them across a reload.
detectors = detectors or {} -- series key -> {d = detector, measurement = ..., tags = ...}
n_series = n_series or 0
ignored_total = ignored_total or 0 -- values of series beyond max_series, since the start
ignored_reported = ignored_reported or 0 -- ignored_total at the last warning

local function change_time(t)
    if type(t) == "number" then
        return string.format("%d", t)
    end
    return tostring(t) -- an ns, or already a string of digits
end

-- RFC 3339 in UTC, to the second: the payload is read by people.
local function format_time(t)
    return os.date("%Y-%m-%dT%H:%M:%SZ", ns(t))
end

local function report(s, cp)
    local tags = {}
    for k, v in pairs(s.tags) do
        tags[k] = v
    end
    tags.series = s.measurement
    tags.field = field
    if tags.host == nil then
        -- where it was seen, as every other point of the store has it
        local host = read_message("Hostname")
        if host ~= nil and host ~= "" then
            tags.host = host
        end
    end
    local fields = {
        name = "anomaly",
        change_time = change_time(cp.time),
        before_mean = cp.before_mean,
        after_mean = cp.after_mean,
        difference = cp.difference,
        percent = cp.percent,
        confidence = cp.confidence,
        direction = cp.direction,
    }
    local by = ""
    if cp.percent then
        by = string.format(" (%+.1f%%)", cp.percent)
    end
    inject_message({
        Type = "anomaly",
        Timestamp = cp.time,
        Payload = string.format("%s: %s went %s from %.6g to %.6g%s at %s (confidence %.4f)",
            s.key, field, cp.direction, cp.before_mean, cp.after_mean, by, format_time(cp.time), cp.confidence),
        Tags = tags,
        Fields = fields,
    })
end

function process_message()
    local v = read_message(field_ref)
    if v == nil then
        return 0
    end
    if type(v) ~= "number" then
        return -1, "field " .. field .. " is not a number"
    end
    local measurement, tags, key = series.read(tag_names)
    local s = detectors[key]
    if not s then
        if n_series >= max_series then
            ignored_total = ignored_total + 1
            return 0
        end
        s = {d = change.new(options), measurement = measurement, tags = tags, key = key}
        detectors[key] = s
        n_series = n_series + 1
    end
    local ts = read_message("Timestamp")
    local cp = s.d:add(ts, v)
    if cp then
        report(s, cp)
    end
    if emit_scores then
        inject_message({Type = "anomaly.score", Timestamp = ts, Fields = {score = cp and 1.0 or 0.0, series = s.key}})
    end
    return 0
end

function timer_event(ns)
    if ignored_total > ignored_reported then
        local n = ignored_total - ignored_reported
        ignored_reported = ignored_total
        inject_message({
            Type = "change_detect.warning",
            Severity = 4,
            Timestamp = ns,
            Payload = string.format("max_series (%d) reached: %d values of new series ignored since the last report, %d in all",
                max_series, n, ignored_total),
            Fields = {max_series = max_series, ignored = n, ignored_total = ignored_total},
        })
    end
end
