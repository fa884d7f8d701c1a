// Package pipeline is the runtime of Interoceptor: the message, the plugin
// contract and registry, config loading, the runners that carry messages
// between plugins over NATS subjects, reload, and the admin API.
//
// # How a plugin lives
//
// A plugin registers its type from its package's init (Register). A config
// names instances of it; for each, LoadConfig constructs the plugin (New),
// decodes its table into it strictly and validates it (Validator). Start
// gives each instance a runner, which owns what the runtime keeps for it:
// its publishers, its NATS subscriptions, its counters. Init (Initializer)
// acquires what the plugin needs; then the runtime subscribes, and Run
// starts the inputs and the tickers. An input emits lines or messages to a
// LineEmitter until its context ends; a filter Processes each message its
// subscriptions bring that its matcher takes, and Ticks on ticker_interval;
// an output Writes batches. When the pipeline stops it drains, upstream
// first: inputs stop, everything they emitted passes through the filters
// and outputs, filters get a final Tick, outputs Flush, and only then is
// every plugin Closed. A reload (reload.go) may add, replace and remove
// runners while the pipeline runs, with the same guarantees.
//
// # Where things are
//
// The runtime, by concern:
//
//	runtime.go      Runtime: Start, Run, the per-runner start and stop
//	reload.go       Reload: the whole config by plugin identity, or scripts
//	watchconfig.go  agent.watch_config
//	runner.go       runner: one plugin instance, its init and subscriptions,
//	                the handler of a batch from NATS
//	filter.go       a filter's batch: matcher, Process, dead_letter, Tick
//	output.go       an output's batch: matcher, Write with retries
//	publisher.go    publisher: batching, backpressure, the inputs' emitter
//	drain.go        stopping: quiesce, flow order, drain, close
//	dedup.go        origin de-duplication (dedupjournal.go: on disk)
//	durable.go      durable mode: JetStream streams and consumers (jsstore.go:
//	                a full store)
//	replay.go       replay mode: filters on recorded data (replaysource.go)
//
// The contract and what plugins use:
//
//	plugin.go       the interfaces, Env, the registry
//	message.go      Message, Field, UUID (metric.go: metric helpers;
//	                codec.go: the batch encoding on the wire; jsonform.go:
//	                the JSON form; intern.go: string interning)
//	config.go       Config, LoadConfig, check errors (tomlsource.go,
//	                tomldecode.go: reading and decoding TOML; sharedkeys.go:
//	                the runtime's keys of every plugin; ranges.go: ranges
//	                of values; names.go: safe names, data paths)
//	bus.go          the NATS connection and the embedded server
//	admin.go        the admin API; stats.go: counters; redact.go: secrets
//	logthrottle.go  LogThrottle: a warning a second at most
//
// Subpackages: wire (what inputs and outputs share: reading lines, TCP and
// UDP serving, listeners a reload can bind twice, line writing), matcher
// (the message_matcher language) and pipelinetest (helpers for tests of
// plugins and pipelines).
package pipeline
