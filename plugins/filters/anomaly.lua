-- anomaly: anomaly and change-point detection per series, with defaults
-- that need no tuning (the anomaly module; see sandbox/modules/anomaly).
--
-- For every series (a metric's measurement and tags, as it is stored) it
-- scores the config `field` of each message in [0, 1] and, when the score
-- crosses `threshold`, injects one message of Type "anomaly", shaped as a
-- metric point so that it is stored next to the data:
--
--   Timestamp  where the change began (a level shift), else the point
--   Fields     name = "anomaly"; kind (new_high, new_low, unusual_jump,
--              level_shift, flatline); score; value; before, after (the
--              levels around it); difference; percent (left out when
--              before is 0); direction ("up" or "down"); summary (what
--              changed, for a dashboard's annotation: the series, before →
--              after and the score, e.g. "cpu usage_user host=web-1: level
--              shift up, 12.3 → 85 (+591.1%) (score 0.97)"); change_time
--              (ns, a string of digits; level shifts only: a change point)
--   Tags       the series' tags, plus series = the measurement and field =
--              the field watched (these two win over tags of the same
--              name), and host when the series has none
--   Payload    a sentence for people
--
-- Config (read_config): field (default "value"); counter (default false:
-- with true the field is a cumulative counter, such as bytes received, and
-- its rate per second is watched); tags (the tags that
-- identify a series; default: all of them; [] for one series per
-- measurement); max_series (default 10000: values of further series are
-- counted, ignored, and reported by a message of Type "anomaly.warning" on
-- the next timer_event); emit_scores (default false: with true, every
-- point also gives a message of Type "anomaly.score", a metric
-- anomaly_score with field score, for a graph of the score or for
-- `interoceptor eval`); and the detector's options, each with the default
-- that works without per-series tuning: threshold (0.9), bins (6), warmup
-- (150), rest (60), memory (20000), step_scale (1.5), jump_window (40),
-- jump_after (8), jump_after_long (16), jump_t (5), jump_min (0.75),
-- flat_run (12; -1 turns flatlines off). See the module's README.
--
-- A message without the field is ignored (0); one whose field is not a
-- number fails (-1 and why).

local anomaly = require "anomaly"

local options = {}
for _, k in ipairs({"threshold", "bins", "warmup", "rest", "memory", "step_scale", "jump_window",
    "jump_after", "jump_after_long", "jump_t", "jump_min", "flat_run", "max_series", "counter"}) do
    options[k] = read_config(k)
end
options.field = read_config("field") or "value"
options.tags = read_config("tags")
local emit_scores = read_config("emit_scores") == true
local check = anomaly.set(options) -- a bad option fails here, at load

-- What the detectors learned is preserved across a reload or a restart
-- (preserve_data) only for the same options: other options start clean.
local function canonical(t)
    local keys = {}
    for k in pairs(t) do
        keys[#keys + 1] = k
    end
    table.sort(keys)
    local parts = {}
    for _, k in ipairs(keys) do
        local v = t[k]
        if type(v) == "table" then
            v = "{" .. table.concat(v, ",") .. "}"
        end
        parts[#parts + 1] = k .. "=" .. tostring(v)
    end
    return table.concat(parts, ";")
end
_PRESERVATION_VERSION = "anomaly 1;" .. canonical(options)

-- Global, so that preserve_data carries it across a reload.
detectors = detectors or check
ignored_reported = ignored_reported or 0

-- RFC 3339 in UTC, to the second: the payload is read by people.
local function format_time(t)
    return os.date("%Y-%m-%dT%H:%M:%SZ", t)
end

-- The series as a person reads it: measurement, field, then its tags in
-- name order ("cpu usage_user cpu=cpu-total host=web-1").
local function series_name(ev)
    local names = {}
    for k in pairs(ev.tags) do
        names[#names + 1] = k
    end
    table.sort(names)
    local parts = {ev.series, options.field}
    for _, k in ipairs(names) do
        parts[#parts + 1] = k .. "=" .. ev.tags[k]
    end
    return table.concat(parts, " ")
end

local function report(ev)
    local tags = {}
    for k, v in pairs(ev.tags) do
        tags[k] = v
    end
    tags.series = ev.series
    tags.field = options.field
    if tags.host == nil then
        local host = read_message("Hostname")
        if host ~= nil and host ~= "" then
            tags.host = host
        end
    end
    local fields = {
        name = "anomaly",
        kind = ev.kind,
        score = ev.score,
        value = ev.value,
        before = ev.before,
        after = ev.after,
        difference = ev.after - ev.before,
        direction = ev.direction,
    }
    local by = ""
    if ev.before ~= 0 then
        fields.percent = (ev.after - ev.before) / math.abs(ev.before) * 100
        by = string.format(" (%+.1f%%)", fields.percent)
    end
    fields.summary = string.format("%s: %s %s, %.4g → %.4g%s (score %.2f)", series_name(ev),
        string.gsub(ev.kind, "_", " "), ev.direction, ev.before, ev.after, by, ev.score)
    local at = ev.time
    if ev.change_point then
        fields.change_time = tostring(ev.change_time)
        at = ev.change_time
    end
    inject_message({
        Type = "anomaly",
        Timestamp = at,
        Payload = string.format("%s: %s %s, %s from %.6g to %.6g%s at %s (score %.2f)",
            ev.key, options.field, string.gsub(ev.kind, "_", " "), ev.direction, ev.before, ev.after, by,
            format_time(at), ev.score),
        Tags = tags,
        Fields = fields,
    })
end

function process_message()
    local score, ev = detectors:process()
    if score == nil then
        if ev ~= nil then
            return -1, ev -- the field is not a number
        end
        return 0
    end
    if ev then
        report(ev)
    end
    if emit_scores then
        inject_message({
            Type = "anomaly.score",
            Timestamp = read_message("Timestamp"),
            Fields = {name = "anomaly_score", score = score},
            Tags = {field = options.field},
        })
    end
    return 0
end

function timer_event(ns)
    local ignored = detectors:ignored()
    if ignored > ignored_reported then
        local n = ignored - ignored_reported
        ignored_reported = ignored
        inject_message({
            Type = "anomaly.warning",
            Severity = 4,
            Timestamp = ns,
            Payload = string.format("max_series (%d) reached: %d values of new series ignored since the last report, %d in all",
                detectors:max_series(), n, ignored),
            Fields = {max_series = detectors:max_series(), ignored = n, ignored_total = ignored},
        })
    end
end
