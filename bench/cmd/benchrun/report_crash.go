package main

import (
	"fmt"
	"strings"
	"time"
)

// writeCrash writes the section on the kill -9 scenario (crash.go).
func (rep *report) writeCrash(b *strings.Builder) {
	r := rep.crash
	if r == nil {
		return
	}
	w := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	w("## Duplicates after kill -9\n\n")
	w("`[[inputs.tail]]` → subject `%s` → `[[outputs.file]]`, both `durable = true`, in one process with the embedded\n", subject)
	w("JetStream (`batch_bytes` %d KiB, every other key at its default: `checkpoint_interval` 1s). benchrun appends\n", crashBatchBytes>>10)
	w("numbered lines of %d bytes to the tailed file at %s lines/s and kills the process with SIGKILL %d times,\n",
		crashLineBytes, group(crashRate, 0), crashKills)
	w("each time once the output has grown by a random %s–%s lines since the start, then starts it again on the\n",
		group(crashMinRun, 0), group(crashMaxRun, 0))
	w("same data_dir. After each restart it waits until the output holds every line the input had at the kill and\n")
	w("the new process has written again the lines it held in doubt (its log says both), then counts the copies\n")
	w("in the output. The duplicates counter of each process (`outputs.file[file]`, from `GET /api/plugins` just\n")
	w("before it is killed; the last one's from its \"stopped\" record) covers the copies of the crash before it.\n")
	w("Binary: `%s`.\n\n", r.bin)

	w("| kill | lines written at the kill | lines in the output then | lines in doubt at the restart | lines written twice | duplicates counted after the restart |\n")
	w("|--:|--:|--:|--:|--:|--:|\n")
	var inDoubt, worst int
	var counted int64
	for i, k := range r.kills {
		w("| %d | %s | %s | %s | %s | %s |\n", i+1, group(float64(k.inputAt), 0), group(float64(k.outputAt), 0),
			group(float64(k.inDoubt), 0), group(float64(k.twice), 0), group(float64(k.counted), 0))
		inDoubt += k.inDoubt
		counted += k.counted
		worst = max(worst, k.twice)
	}
	bound := crashBatchBytes/(crashLineBytes-1) + 1
	w("\n- **Lines written twice: %s in %d crashes, %s per crash on average, %s at most** (the bound: the one batch\n",
		group(float64(r.twice), 0), len(r.kills), group(float64(r.twice)/float64(len(r.kills)), 1), group(float64(worst), 0))
	w("  being written at the crash, at most %s KiB: %s lines of %d bytes).\n", group(crashBatchBytes>>10, 0), group(float64(bound), 0), crashLineBytes)
	w("- **The counter: %s duplicates** after the crashes (the first process counted %s). %s of them are lines that were\n",
		group(float64(counted), 0), group(float64(r.first), 0), group(float64(inDoubt), 0))
	w("  in doubt at a restart and written again (the lines written twice are among them); the other %s are copies\n",
		group(float64(counted-int64(inDoubt)), 0))
	w("  the output recognised and dropped: lines the tail read again from its checkpoint, and batches the stream\n")
	w("  delivered again (written, not acked).")
	if counted >= int64(r.twice) {
		w(" The counter is at least the lines written twice, as it must be.\n")
	} else {
		w(" **The counter is below the lines written twice.**\n")
	}
	w("- Every one of the %s lines written reached the output; it held them all %.0f ms after the writer stopped. The\n",
		group(float64(r.lines), 0), ms(r.catchUp))
	w("  run took %s.\n\n", r.elapsed.Round(100*time.Millisecond))
}
