package e2e

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/interoceptor/interoceptor/pipeline/pipelinetest"
)

// TestDurableTailSurvivesClusterNodeKill is issue 5's failure test (c): an
// agent tailing a file written at 20k lines/s publishes durably into a
// 3-node NATS cluster with streams replicated 3 times, and a central writes
// what the agent's stream delivers to a file. About a second into the
// writing, the worst node to lose is killed with SIGKILL and left dead (2
// of 3 is still a quorum): the one that leads the stream and the central's
// consumer and serves the central's connection, at the moment it delivers a
// batch to the central. Every line must reach the central's file, and both
// pipelines must stop cleanly on SIGTERM.
//
// Publishes fail until the other two nodes elect a new stream leader (the
// raft election timeout is 4 to 9 s); the agent retries them with the same
// message id, which the stream de-duplicates if the first try was stored.
// The batch being delivered at the kill, or its ack, may be lost: the new
// consumer leader redelivers it once the ack wait (30 s) has passed. That
// bounds how long the test waits, and it fails at once if the central has
// acked every batch while lines are still missing: those never come.
func TestDurableTailSurvivesClusterNodeKill(t *testing.T) {
	if testing.Short() {
		t.Skip("takes 10 to 45 s")
	}
	const (
		rate     = 20_000 // lines/s
		duration = 4 * time.Second
		subject  = "e2e.tail"
		ackWait  = 30 * time.Second // pipeline.durableAckWait
	)
	nodes := startNatsCluster(t, 3)
	var urls []string
	for _, n := range nodes {
		urls = append(urls, n.url)
	}
	url := strings.Join(urls, ",")
	nc, js := clusterJetStream(t, url)

	dir := t.TempDir()
	logFile := writeFile(t, filepath.Join(dir, "app.log"), "")
	out := filepath.Join(dir, "central.log")
	agent := runPipeline(t, dir, "agent", fmt.Sprintf(`
[agent]
name = "agent"
data_dir = %q
admin_addr = "off"
[nats]
url = %q
stream_replicas = 3
stream_max_bytes = 67108864 # each node reserves it on the one test disk; the default is 1 GiB
batch_bytes = 524288
batch_linger = "200ms"
[[inputs.tail]]
files = [%q]
from_beginning = true
durable = true
publish = %q
checkpoint_interval = "100ms"
`, filepath.Join(dir, "agent-var"), url, logFile, subject))
	agent.waitRunning(t) // its stream now exists
	central := runPipeline(t, dir, "central", fmt.Sprintf(`
[agent]
name = "central"
data_dir = %q
admin_addr = "off"
[nats]
url = %q
[[outputs.file]]
subscribe = [%q]
external = true
durable = true
path = %q
`, filepath.Join(dir, "central-var"), url, subject, out))
	central.waitRunning(t)

	// Found by subject: the names of the stream and consumer are pipeline's
	// business.
	stream, err := js.StreamNameBySubject(subject)
	if err != nil {
		t.Fatal(err)
	}
	si, err := js.StreamInfo(stream)
	if err != nil {
		t.Fatal(err)
	}
	if si.Config.Replicas != 3 || si.Cluster == nil || len(si.Cluster.Replicas) != 2 {
		t.Fatalf("stream %s: want 3 replicas, got config %d, cluster %+v", stream, si.Config.Replicas, si.Cluster)
	}
	var consumers []string
	for name := range js.ConsumerNames(stream) {
		consumers = append(consumers, name)
	}
	if len(consumers) != 1 {
		t.Fatalf("stream %s: want the central's consumer, got %q", stream, consumers)
	}
	consumer := consumers[0]
	ci, err := js.ConsumerInfo(stream, consumer)
	if err != nil {
		t.Fatal(err)
	}
	deliver := ci.Config.DeliverSubject

	var victim *clusterNode
	var others []string
	for _, n := range nodes {
		if n.serves(t, deliver) {
			victim = n
		} else {
			others = append(others, n.url)
		}
	}
	if victim == nil {
		t.Fatalf("no node serves the central's subscription to %s", deliver)
	}
	leader := victim.name
	moveLeader(t, nc, "$JS.API.STREAM.LEADER.STEPDOWN."+stream, leader, func() (*nats.ClusterInfo, error) {
		si, err := js.StreamInfo(stream)
		if err != nil {
			return nil, err
		}
		return si.Cluster, nil
	})
	moveLeader(t, nc, "$JS.API.CONSUMER.LEADER.STEPDOWN."+stream+"."+consumer, leader, func() (*nats.ClusterInfo, error) {
		ci, err := js.ConsumerInfo(stream, consumer)
		if err != nil {
			return nil, err
		}
		return ci.Cluster, nil
	})
	// It records on the surviving nodes, so that it sees everything after
	// the kill.
	tap := startDeliveryTap(t, strings.Join(others, ","), victim.url, deliver)

	w := startSeqWriter(t, logFile, rate, duration)
	time.Sleep(time.Second)
	stall := watchStall(out, 10*time.Millisecond)
	killedAt := tap.killAtNextDelivery(t, victim.proc, time.Second)
	victim.proc.wait(t, 10*time.Second)
	writtenAtKill := w.written.Load()

	pipelinetest.WaitUntil(t, 15*time.Second, "a new stream leader", func() error {
		si, err := js.StreamInfo(stream)
		switch {
		case err != nil:
			return err
		case si.Cluster == nil || si.Cluster.Leader == "":
			return errors.New("no leader")
		case si.Cluster.Leader == leader:
			return fmt.Errorf("the leader is still %s", leader)
		}
		return nil
	})
	electedAfter := time.Since(killedAt)

	<-w.done
	n := int(w.written.Load())
	// A batch lost at the kill comes again after the ack wait; once the
	// agent has stored the last line and the consumer has every batch
	// acked, a missing line never comes.
	allAcked := func() bool {
		if !tap.delivered(n - 1) {
			return false
		}
		si, err1 := js.StreamInfo(stream)
		ci, err2 := js.ConsumerInfo(stream, consumer)
		return err1 == nil && err2 == nil && ci.NumPending == 0 && ci.NumAckPending == 0 &&
			ci.AckFloor.Stream == si.State.LastSeq
	}
	seen := waitSeqLinesUnlessLost(t, out, n, ackWait+15*time.Second, func(first int) string {
		if !allAcked() {
			return ""
		}
		return fmt.Sprintf("the central has acked every batch of the stream: they are lost; %s", tap.history(first))
	})
	arrivedAfter := time.Since(w.end)
	longestStall := stall()

	stopping := time.Now()
	agent.signal(t, syscall.SIGTERM)
	if code := agent.wait(t, 30*time.Second); code != 0 {
		t.Fatalf("agent exit %d after SIGTERM", code)
	}
	agentStop := time.Since(stopping)
	ci, err = js.ConsumerInfo(stream, consumer)
	if err != nil {
		t.Fatal(err)
	}
	stopping = time.Now()
	central.signal(t, syscall.SIGTERM)
	if code := central.wait(t, ackWait+15*time.Second); code != 0 {
		t.Fatalf("central exit %d after SIGTERM", code)
	}
	centralStop := time.Since(stopping)
	if m := countSeqLines(t, out, seen, true); m != 0 {
		t.Fatalf("%d lines missing after shutdown", m)
	}

	extra := 0
	for _, c := range seen {
		extra += max(c-1, 0)
	}
	centralDup := stoppedCounters(t, central.stderr.String(), "outputs.file[file]")["duplicates"]
	agentDup := stoppedCounters(t, agent.stderr.String(), "inputs.tail[tail]")["duplicates"]
	retries, first, last, errs := warnings(agent.stderr.String(), "durable publish failed, retrying")
	failed := "none"
	if retries > 0 {
		failed = fmt.Sprintf("%d, logged from %s to %s after the kill (%s)", retries,
			roundMs(first.Sub(killedAt)), roundMs(last.Sub(killedAt)), strings.Join(errs, "; "))
	}
	t.Logf("written %d lines, %d when %s (stream and consumer leader, the central's server) was killed %s; "+
		"a new stream leader was seen after %s; the central's output stalled for %s at most; "+
		"every line had arrived %s after the writer stopped",
		n, writtenAtKill, leader, tap.killedDuring(), roundMs(electedAfter), roundMs(longestStall), roundMs(arrivedAfter))
	t.Logf("SIGTERM to exit: agent %s, central %s (its consumer then: %d pending, %d unacked, acked up to stream seq %d of %d); "+
		"redelivered batches: %s",
		roundMs(agentStop), roundMs(centralStop), ci.NumPending, ci.NumAckPending, ci.AckFloor.Stream, ci.Delivered.Stream, tap.redeliveries())
	t.Logf("the central wrote %d lines, %d unique, %d duplicates; "+
		"reported duplicates: central %v, stream de-duplicated %v; failed publishes: %s",
		n+extra, n, extra, centralDup, agentDup, failed)
	if float64(extra) > centralDup {
		t.Errorf("the central wrote %d lines twice but reports %v duplicates", extra, centralDup)
	}
}

func roundMs(d time.Duration) time.Duration { return d.Round(time.Millisecond) }

// moveLeader makes server the leader of a stream or consumer: a stepdown
// request (api is its subject) with server as the preferred placement.
func moveLeader(t *testing.T, nc *nats.Conn, api, server string, info func() (*nats.ClusterInfo, error)) {
	t.Helper()
	if ci, err := info(); err != nil {
		t.Fatal(err)
	} else if ci != nil && ci.Leader == server {
		return
	}
	req, _ := json.Marshal(map[string]any{"placement": map[string]string{"preferred": server}})
	resp, err := nc.Request(api, req, 5*time.Second)
	if err != nil {
		t.Fatalf("%s: %v", api, err)
	}
	var r struct {
		Success bool `json:"success"`
	}
	if err := json.Unmarshal(resp.Data, &r); err != nil || !r.Success {
		t.Fatalf("%s: %s", api, resp.Data)
	}
	pipelinetest.WaitUntil(t, 10*time.Second, "the leader to move to "+server, func() error {
		ci, err := info()
		switch {
		case err != nil:
			return err
		case ci == nil:
			return errors.New("no cluster info")
		case ci.Leader != server:
			return fmt.Errorf("the leader is %q", ci.Leader)
		}
		return nil
	})
}

// deliveryTap listens to what a push consumer delivers and to the acks its
// subscriber sends back, and kills a node at the next delivery when asked.
type deliveryTap struct {
	mu       sync.Mutex
	events   []tapEvent
	replies  map[string]uint64 // a delivery's reply subject: its stream sequence
	kill     func()            // called at the next delivery, then cleared
	during   string            // the delivery kill was called at
	killedAt time.Time
}

type tapEvent struct {
	at          time.Time
	seq         uint64 // stream sequence
	what        string // "delivered (n)", "+ACK", ...
	first, last int    // the batch's seqLine numbers; -1 for an ack
}

var seqLineRe = regexp.MustCompile(`line ([0-9]{9}) `)

// startDeliveryTap subscribes, on a connection to url, to a consumer's
// deliver subject and to the acks of the stream's consumers. A second
// connection, to the node the subscriber is on (server), sees a delivery
// when the subscriber does, for killAtNextDelivery.
func startDeliveryTap(t *testing.T, url, server, deliver string) *deliveryTap {
	t.Helper()
	tap := &deliveryTap{replies: map[string]uint64{}}
	trigger, err := nats.Connect(server, nats.NoReconnect())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(trigger.Close)
	if _, err := trigger.Subscribe(deliver, func(m *nats.Msg) {
		if md, err := m.Metadata(); err == nil {
			tap.killNow(md.Sequence.Stream)
		}
	}); err != nil {
		t.Fatal(err)
	}
	if err := trigger.Flush(); err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(url, nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	if _, err := nc.Subscribe(deliver, func(m *nats.Msg) {
		md, err := m.Metadata()
		if err != nil {
			return
		}
		tap.killNow(md.Sequence.Stream)
		tap.mu.Lock()
		defer tap.mu.Unlock()
		e := tapEvent{at: time.Now(), seq: md.Sequence.Stream, what: fmt.Sprintf("delivered (%d)", md.NumDelivered), first: -1, last: -1}
		if l := seqLineRe.FindAllSubmatch(m.Data, -1); len(l) > 0 {
			e.first, _ = strconv.Atoi(string(l[0][1]))
			e.last, _ = strconv.Atoi(string(l[len(l)-1][1]))
		}
		tap.replies[m.Reply] = e.seq
		tap.events = append(tap.events, e)
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := nc.Subscribe("$JS.ACK.>", func(m *nats.Msg) {
		tap.mu.Lock()
		defer tap.mu.Unlock()
		if seq, ok := tap.replies[m.Subject]; ok {
			tap.events = append(tap.events, tapEvent{at: time.Now(), seq: seq, what: string(m.Data), first: -1, last: -1})
		}
	}); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	return tap
}

// killNow calls the armed kill, if any, at the delivery of stream seq seq.
func (tap *deliveryTap) killNow(seq uint64) {
	tap.mu.Lock()
	defer tap.mu.Unlock()
	if kill := tap.kill; kill != nil {
		kill()
		tap.kill, tap.during = nil, fmt.Sprintf("during the delivery of stream seq %d", seq)
	}
}

// killAtNextDelivery kills p with SIGKILL as the tap sees the next
// delivery, or after at most d, and returns when.
func (tap *deliveryTap) killAtNextDelivery(t *testing.T, p *proc, d time.Duration) time.Time {
	t.Helper()
	killed := make(chan time.Time, 1)
	kill := func() {
		_ = p.cmd.Process.Kill()
		killed <- time.Now()
	}
	tap.mu.Lock()
	tap.kill = kill
	tap.mu.Unlock()
	var at time.Time
	select {
	case at = <-killed:
	case <-time.After(d):
		tap.mu.Lock()
		if tap.kill != nil { // else it came meanwhile
			tap.kill, tap.during = nil, fmt.Sprintf("with no delivery in the %s before", d)
			kill()
		}
		tap.mu.Unlock()
		at = <-killed
	}
	tap.mu.Lock()
	tap.killedAt = at
	tap.mu.Unlock()
	return at
}

func (tap *deliveryTap) killedDuring() string {
	tap.mu.Lock()
	defer tap.mu.Unlock()
	return tap.during
}

// history tells what happened to the batch that held seqLine(line).
func (tap *deliveryTap) history(line int) string {
	tap.mu.Lock()
	defer tap.mu.Unlock()
	var seq uint64
	for _, e := range tap.events {
		if e.first <= line && line <= e.last {
			seq = e.seq
		}
	}
	if seq == 0 {
		return fmt.Sprintf("line %d was never delivered", line)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "line %d is in stream seq %d:", line, seq)
	for _, e := range tap.events {
		if e.seq == seq {
			fmt.Fprintf(&b, " %s %s", e.at.Format("15:04:05.000"), e.what)
			if e.first >= 0 {
				fmt.Fprintf(&b, " lines %d-%d", e.first, e.last)
			}
			b.WriteString(";")
		}
	}
	return b.String()
}

// delivered reports whether the tap has seen a batch with seqLine(line).
func (tap *deliveryTap) delivered(line int) bool {
	tap.mu.Lock()
	defer tap.mu.Unlock()
	for _, e := range tap.events {
		if e.first <= line && line <= e.last {
			return true
		}
	}
	return false
}

// redeliveries lists the batches delivered more than once.
func (tap *deliveryTap) redeliveries() string {
	tap.mu.Lock()
	defer tap.mu.Unlock()
	var out []string
	for _, e := range tap.events {
		if e.first >= 0 && e.what != "delivered (1)" {
			out = append(out, fmt.Sprintf("stream seq %d (%d lines) %s at +%s", e.seq, e.last-e.first+1, e.what, roundMs(e.at.Sub(tap.killedAt))))
		}
	}
	if len(out) == 0 {
		return "none"
	}
	return strings.Join(out, ", ")
}

// clusterNode is one nats-server of a cluster started by startNatsCluster.
type clusterNode struct {
	name    string
	url     string
	monitor string // its HTTP monitoring address
	proc    *proc
}

// serves reports whether a client of the node subscribes to subject.
func (n *clusterNode) serves(t *testing.T, subject string) bool {
	t.Helper()
	resp, err := http.Get(n.monitor + "/connz?subs=1")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var connz struct {
		Connections []struct {
			Subs []string `json:"subscriptions_list"`
		} `json:"connections"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&connz); err != nil {
		t.Fatal(err)
	}
	for _, c := range connz.Connections {
		if slices.Contains(c.Subs, subject) {
			return true
		}
	}
	return false
}

// startNatsCluster starts size nats-servers with JetStream, routed to each
// other on loopback, and waits until the cluster can place a stream on all
// of them: before the JetStream meta group has a leader and every peer,
// creating a replicated stream fails.
func startNatsCluster(t *testing.T, size int) []*clusterNode {
	t.Helper()
	routes := make([]string, size)
	for i := range routes {
		routes[i] = fmt.Sprintf("nats://127.0.0.1:%d", freePort(t))
	}
	nodes := make([]*clusterNode, size)
	for i := range nodes {
		var others []string
		for j, r := range routes {
			if j != i {
				others = append(others, r)
			}
		}
		name, monitor := fmt.Sprintf("n%d", i+1), freePort(t)
		url, p := startNatsServer(t, "-js", "-sd", filepath.Join(t.TempDir(), "js"),
			"--server_name", name, "--cluster_name", "e2e", "-m", strconv.Itoa(monitor),
			"--cluster", routes[i], "--routes", strings.Join(others, ","))
		nodes[i] = &clusterNode{name: name, url: url, monitor: fmt.Sprintf("http://127.0.0.1:%d", monitor), proc: p}
	}
	var urls []string
	for _, n := range nodes {
		urls = append(urls, n.url)
	}
	_, js := clusterJetStream(t, strings.Join(urls, ","))
	probe := &nats.StreamConfig{Name: "E2E_PROBE", Subjects: []string{"e2e.probe"}, Storage: nats.MemoryStorage, Replicas: size}
	pipelinetest.WaitUntil(t, 30*time.Second, "the JetStream cluster to place a replicated stream", func() error {
		_, err := js.AddStream(probe, nats.MaxWait(time.Second))
		return err
	})
	if err := js.DeleteStream(probe.Name); err != nil {
		t.Fatal(err)
	}
	return nodes
}

// clusterJetStream connects the test itself to a cluster, for stream and
// consumer info.
func clusterJetStream(t *testing.T, url string) (*nats.Conn, nats.JetStreamContext) {
	t.Helper()
	nc, err := nats.Connect(url, nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := nc.JetStream(nats.MaxWait(2 * time.Second))
	if err != nil {
		t.Fatal(err)
	}
	return nc, js
}

// watchStall polls the size of a file every interval; the function it
// returns stops the polling and returns the longest time the file did not
// grow since watchStall was called.
func watchStall(path string, interval time.Duration) func() time.Duration {
	stop, done := make(chan struct{}), make(chan time.Duration)
	go func() {
		var size int64 = -1
		var longest time.Duration
		grew := time.Now()
		for {
			if fi, err := os.Stat(path); err == nil && fi.Size() != size {
				size, grew = fi.Size(), time.Now()
			}
			longest = max(longest, time.Since(grew))
			select {
			case <-stop:
				done <- longest
				return
			case <-time.After(interval):
			}
		}
	}()
	return func() time.Duration {
		close(stop)
		return <-done
	}
}
