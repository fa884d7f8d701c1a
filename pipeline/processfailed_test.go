package pipeline

import (
	"errors"
	"log/slog"
	"testing"
)

// A message a filter did not process, whose dead_letter publisher refuses
// it (the pipeline stopped), is counted as dropped once: the publisher
// counts what it refuses.
func TestProcessFailedCountsARefusedDeadLetterOnce(t *testing.T) {
	rt := &Runtime{cfg: &Config{Nats: NatsConfig{BatchBytes: DefaultBatchBytes}}}
	r := &runner{rt: rt, cfg: &PluginConfig{Kind: KindFilter, Type: "lua", Name: "f", DeadLetter: "dead"}, log: slog.New(slog.DiscardHandler), stats: &PluginStats{}}
	r.dead = newPublisher(r, "dead")
	r.dead.stop()
	r.processFailed(&Message{Type: "log"}, NotProcessed(errors.New("script stopped")))
	if d, e := r.stats.Dropped.Load(), r.stats.Errors.Load(); d != 1 || e != 1 {
		t.Errorf("dropped = %d, errors = %d; want 1 and 1", d, e)
	}
}
