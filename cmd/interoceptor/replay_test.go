package main

import (
	"bytes"
	"testing"
)

// `replay -alerts` prints what the rules of testdata/alerts would have
// done over its recorded twenty minutes, on the data's clock: the busy
// host fires after its 5m of for and resolves, the silent one fires after
// absent_for and is still firing at the end; re-sends are not printed.
func TestReplayAlerts(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := cmdReplay([]string{"-config", "testdata/alerts/rules.toml", "-from", "testdata/alerts/data.lp", "-alerts"}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr.String())
	}
	want := `2026-01-05T10:07:00Z FIRING   HighCPU host=web-1 severity=critical  since 2026-01-05T10:02:00Z  cpu_usage_user=97 system_load1=8  CPU at 97% on web-1
2026-01-05T10:12:00Z RESOLVED HighCPU host=web-1 severity=critical  since 2026-01-05T10:02:00Z  (lasted 10m0s)
2026-01-05T10:14:00Z FIRING   HostDown host=web-2 severity=warning  since 2026-01-05T10:14:00Z  silent_seconds=300
2 alerts fired, 1 resolved, 1 still firing at the end
`
	if stdout.String() != want {
		t.Errorf("stdout:\n%s\nwant:\n%s", stdout.String(), want)
	}
}
