#!/bin/sh
# Writes the generated input fixtures of the plugin tests (the others are
# written by hand). Run from this directory: sh gen.sh. Values are a level
# plus a deterministic pseudo-noise (a sine hash), printed with 3 decimals,
# so the files come out the same every time. After a change here, rerun the
# cases with `interoceptor test -update`, then review every expected line.
set -eu

# series NAME TAGS FIELD START STEP N LEVEL NOISE SEED: N points of
# NAME,TAGS FIELD=... from START (ns), STEP ns apart, at LEVEL ± NOISE/2.
series() {
	awk -v name="$1" -v tags="$2" -v field="$3" -v start="$4" -v step="$5" -v n="$6" \
		-v level="$7" -v noise="$8" -v seed="$9" 'BEGIN {
		for (i = 0; i < n; i++) {
			h = sin((i + seed) * 12.9898) * 43758.5453
			h = h - int(h); if (h < 0) h += 1
			printf "{\"influx\": \"%s,%s %s=%.3f %.0f\"}\n", name, tags, field, level + noise * (h - 0.5), start + i * step
		}
	}'
}

t0=1767225600000000000 # 2026-01-01T00:00:00Z
s10=10000000000        # 10 s

{
	echo "# cpu,host=a: 60 values around 10, then 60 around 20, one every 10 s."
	series cpu host=a usage_user $t0 $s10 60 10 1 1
	series cpu host=a usage_user $((t0 + 60 * s10)) $s10 60 20 1 61
} >change_detect/step_up.input.jsonl

{
	echo "# mem,host=db: 80 values around 50, then 80 around 30, one every 10 s."
	series mem host=db used_percent $t0 $s10 80 50 2 7
	series mem host=db used_percent $((t0 + 80 * s10)) $s10 80 30 2 87
} >change_detect/step_down.input.jsonl

{
	echo "# cpu,host=a steps up from 10 to 20 at its 40th value; cpu,host=b steps"
	echo "# down from 40 to 25 at its 70th; their values alternate (a, b, a, b...)."
	series cpu host=a usage_user $t0 $s10 40 10 1 3 >a.tmp
	series cpu host=a usage_user $((t0 + 40 * s10)) $s10 60 20 1 43 >>a.tmp
	series cpu host=b usage_user $((t0 + 5000000000)) $s10 70 40 1 5 >b.tmp
	series cpu host=b usage_user $((t0 + 5000000000 + 70 * s10)) $s10 30 25 1 75 >>b.tmp
	paste -d '\n' a.tmp b.tmp
	rm a.tmp b.tmp
} >change_detect/two_series.input.jsonl

{
	echo "# cpu,host=a: 300 values around 10 with noise of ±2 and no change."
	series cpu host=a usage_user $t0 $s10 300 10 4 11
} >change_detect/noise_only.input.jsonl

{
	echo "# 1000 values of one key, more than max_samples = 10: count, sum, min and"
	echo "# max stay exact; the percentiles come from a sample of 10."
	series http host=a duration_ms $t0 1000000000 1000 100 100 17
	echo '{"timer_event": "2026-01-01T00:17:00Z"}'
} >stats/reservoir.input.jsonl

{
	echo "# cpu,host=a: 200 values around 10 (noise ±0.5), then 100 around 20."
	series cpu host=a usage_user $t0 $s10 200 10 1 1
	series cpu host=a usage_user $((t0 + 200 * s10)) $s10 100 20 1 201
} >anomaly/level_shift.input.jsonl

{
	echo "# cpu,host=a: 200 values around 10 (noise ±0.5), one of 30, 60 around 10."
	series cpu host=a usage_user $t0 $s10 200 10 1 1
	series cpu host=a usage_user $((t0 + 200 * s10)) $s10 1 30 0 0
	series cpu host=a usage_user $((t0 + 201 * s10)) $s10 60 10 1 202
} >anomaly/spike.input.jsonl

{
	echo "# cpu,host=a: 1000 values around 10 with noise of ±2 and no change."
	series cpu host=a usage_user $t0 $s10 1000 10 4 11
} >anomaly/noise_only.input.jsonl

{
	echo "# cpu,host=a steps up from 10 to 20 at its 100th value; cpu,host=b steps"
	echo "# down from 40 to 25 at its 120th; their values alternate (a, b, a, b...)."
	series cpu host=a usage_user $t0 $s10 100 10 1 3 >a.tmp
	series cpu host=a usage_user $((t0 + 100 * s10)) $s10 60 20 1 103 >>a.tmp
	series cpu host=b usage_user $((t0 + 5000000000)) $s10 120 40 1 5 >b.tmp
	series cpu host=b usage_user $((t0 + 5000000000 + 120 * s10)) $s10 40 25 1 125 >>b.tmp
	paste -d '\n' a.tmp b.tmp | grep .
	rm a.tmp b.tmp
} >anomaly/two_series.input.jsonl

{
	echo "# cpu,host=a: 5 values; emit_scores gives a score for each."
	series cpu host=a usage_user $t0 $s10 5 10 1 1
} >anomaly/emit_scores.input.jsonl
