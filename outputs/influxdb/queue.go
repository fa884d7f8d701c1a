package influxdb

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/interoceptor/interoceptor/pipeline"
)

type batch struct {
	data   []byte
	points int
}

// waitForRoom returns at once unless full_action is "block" and memory is
// full (disk full or off): then it waits for the writer to make room, up to
// blockWait, and then returns a retryable error.
func (o *InfluxDB) waitForRoom() error {
	deadline := time.Now().Add(blockWait)
	o.mu.Lock()
	defer o.mu.Unlock()
	for {
		o.spill()
		if o.FullAction == fullDropOldest || o.memBytes < o.BufferBytes {
			return nil
		}
		wait := time.Until(deadline)
		if wait <= 0 {
			where := "memory"
			if o.disk != nil {
				where = "memory and disk"
			}
			return pipeline.Retryable(fmt.Errorf("buffer full (%s, %d points waiting; full_action = \"block\"): InfluxDB is not taking them: %s",
				where, o.memPoints+o.diskPointsLocked(), o.lastErr))
		}
		room := o.room
		o.mu.Unlock()
		t := time.NewTimer(wait)
		select {
		case <-room:
		case <-t.C:
		}
		t.Stop()
		o.mu.Lock()
	}
}

// seal ends the batch being filled and queues it in memory.
func (o *InfluxDB) seal() {
	if o.curPoints == 0 {
		return
	}
	o.mem = append(o.mem, &batch{data: o.cur, points: o.curPoints})
	o.cur, o.curPoints = nil, 0
	o.kick()
}

// spill brings memory back within buffer_bytes: it moves its oldest batches
// to the end of the disk queue; when the disk is full (or off) it drops the
// oldest on disk (or in memory) with drop_oldest, and leaves memory over
// its bound with block (Write then waits).
func (o *InfluxDB) spill() {
	for o.memBytes > o.BufferBytes {
		if len(o.mem) == 0 {
			if o.curPoints == 0 {
				return // only the batch the writer holds is left
			}
			o.seal()
		}
		b := o.mem[0]
		if o.disk != nil && o.makeDiskRoom(len(b.data)) {
			err := o.disk.append(b.data, b.points)
			if err == nil {
				o.popMem()
				o.recycle(b.data)
				o.kick()
				continue
			}
			o.env.Stats.Errors.Add(1)
			if ok, more := o.diskLog.Allow(); ok {
				o.env.Log.Error("disk buffer: write failed; keeping the batch in memory", "dir", o.dir,
					"error", err, "more_since_last_warning", more)
			}
		}
		if o.FullAction != fullDropOldest {
			return
		}
		o.popMem()
		o.recycle(b.data)
		reason := "memory buffer full (buffer_bytes)"
		if o.disk != nil {
			reason = "memory buffer full and disk buffer unwritable"
		}
		o.lose(b.points, reason)
	}
}

// makeDiskRoom reports whether a record of n bytes fits on disk, making room
// with drop_oldest by deleting the oldest segments.
func (o *InfluxDB) makeDiskRoom(n int) bool {
	for !o.disk.fits(n, o.DiskBufferBytes) {
		if o.FullAction != fullDropOldest {
			return false
		}
		points, err := o.disk.dropFirst()
		if err != nil {
			o.env.Stats.Errors.Add(1)
			o.env.Log.Error("disk buffer: deleting the oldest segment failed", "dir", o.dir, "error", err)
		}
		if o.diskSending && !o.diskDetached {
			// The record being sent was in that segment: its points count
			// when its send ends, as delivered or as dropped.
			o.diskDetached = true
			points -= int64(o.diskPoints)
		}
		o.lose(int(points), dropOldestDisk)
	}
	return true
}

func (o *InfluxDB) popMem() {
	b := o.mem[0]
	o.mem[0] = nil
	o.mem = o.mem[1:]
	o.memBytes -= int64(len(b.data))
	o.memPoints -= int64(b.points)
}

// recycle keeps a few buffers of delivered batches for the next ones.
func (o *InfluxDB) recycle(buf []byte) {
	if len(o.free) < 4 {
		o.free = append(o.free, buf[:0])
	}
}

// lose counts points that will never reach InfluxDB, and says why.
func (o *InfluxDB) lose(points int, reason string) {
	if points <= 0 {
		return
	}
	o.dropped += uint64(points)
	o.env.Stats.Dropped.Add(uint64(points))
	o.env.Stats.Errors.Add(uint64(points))
	if ok, more := o.dropLog.Allow(); ok {
		o.env.Log.Warn("points dropped", "points", points, "reason", reason, "more_since_last_warning", more)
	}
}

const dropOldestDisk = "disk buffer full (disk_buffer_bytes), full_action = \"drop_oldest\""

// kick tells the writer to look at the queue again.
func (o *InfluxDB) kick() {
	select {
	case o.wake <- struct{}{}:
	default:
	}
}

// signalRoom wakes a Write waiting for room.
func (o *InfluxDB) signalRoom() {
	close(o.room)
	o.room = make(chan struct{})
}

// next returns the oldest batch: the one held, else the first on disk, else
// the first in memory; it seals the batch being filled once flush_interval
// has passed (at once when closing). ok is false when the writer should
// stop: ctx ended, or Close is waiting and nothing is left.
func (o *InfluxDB) next(ctx context.Context) (b *batch, fromDisk, ok bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for {
		if o.held != nil {
			return o.held, false, true
		}
		if o.disk != nil && !o.disk.empty() {
			data, points, err := o.disk.peek(&o.readBuf)
			if err != nil {
				o.diskUnreadable(points, err)
				continue
			}
			o.diskSending, o.diskDetached, o.diskPoints = true, false, points
			return &batch{data: data, points: points}, true, true
		}
		if len(o.mem) > 0 {
			o.held = o.mem[0]
			o.mem[0] = nil
			o.mem = o.mem[1:]
			return o.held, false, true
		}
		if o.curPoints > 0 && (o.closing || time.Since(o.curSince) >= time.Duration(o.FlushInterval)) {
			o.seal()
			continue
		}
		if o.closing {
			return nil, false, false
		}
		var timer *time.Timer
		var timeout <-chan time.Time
		if o.curPoints > 0 {
			timer = time.NewTimer(time.Duration(o.FlushInterval) - time.Since(o.curSince))
			timeout = timer.C
		}
		o.mu.Unlock()
		stop := false
		select {
		case <-ctx.Done():
			stop = true
		case <-o.closingCh:
		case <-o.wake:
		case <-timeout:
		}
		if timer != nil {
			timer.Stop()
		}
		o.mu.Lock()
		if stop {
			return nil, false, false
		}
	}
}

// diskUnreadable drops the first segment, whose record at the read offset
// cannot be read back: its records can no longer be told apart.
func (o *InfluxDB) diskUnreadable(claimed int, err error) {
	points, derr := o.disk.dropFirst()
	o.env.Stats.Errors.Add(1)
	o.env.Log.Error("disk buffer: damaged segment dropped", "dir", o.dir, "error", errors.Join(err, derr),
		"points", points, "points_in_damaged_record", claimed)
	o.lose(int(points), "disk buffer segment damaged")
	o.signalRoom()
}

func (o *InfluxDB) diskPointsLocked() int64 {
	if o.disk == nil {
		return 0
	}
	return o.disk.points
}

func (o *InfluxDB) diskBytesLocked() int64 {
	if o.disk == nil {
		return 0
	}
	return o.disk.bytes
}
