package tail

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"time"

	"github.com/interoceptor/interoceptor/pipeline"
)

// headBytes is how much of a file's start, with its device and inode, tells
// it from another file that got the same inode after the first was deleted.
const headBytes = 256

// fileKey is a file's device and inode.
type fileKey struct{ dev, ino uint64 }

func (k fileKey) String() string { return fmt.Sprintf("%d:%d", k.dev, k.ino) }

// fileHead is a file's first bytes, up to headBytes: fewer while the file is
// shorter.
type fileHead struct{ bytes []byte }

func readHead(f *os.File) (fileHead, error) {
	b := make([]byte, headBytes)
	n, err := f.ReadAt(b, 0)
	if err != nil && err != io.EOF {
		return fileHead{}, err
	}
	return fileHead{b[:n]}, nil
}

func (h fileHead) sum() string {
	s := sha256.Sum256(h.bytes)
	return hex.EncodeToString(s[:])
}

// matches reports whether e, written when the file may have been shorter,
// records a file starting as this one does.
func (h fileHead) matches(e checkpointEntry) bool {
	if e.HeadLen > len(h.bytes) {
		return false
	}
	return fileHead{h.bytes[:e.HeadLen]}.sum() == e.HeadSHA256
}

// checkpointFile is the JSON document at data_dir/tail/<name>.json.
type checkpointFile struct {
	Version int                        `json:"version"`
	Files   map[string]checkpointEntry `json:"files"` // by "device:inode"
}

// checkpointEntry records how far a file was read: Offset is the end of the
// last line accepted downstream.
type checkpointEntry struct {
	Path       string `json:"path"`
	Offset     int64  `json:"offset"`
	HeadLen    int    `json:"head_len"`
	HeadSHA256 string `json:"head_sha256"`
	Since      int64  `json:"since,omitempty"` // the incarnation: see tailedFile.since
}

// loadCheckpoint reads the checkpoint at path; a missing one is no error.
func loadCheckpoint(path string) (map[string]checkpointEntry, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var c checkpointFile
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if c.Version != 1 {
		return nil, fmt.Errorf("%s: unknown version %d", path, c.Version)
	}
	return c.Files, nil
}

// saveCheckpoint writes the offsets of the files followed, if they changed
// since the last write: to a temporary file, synced, then renamed over the
// checkpoint, so that a crash leaves the old one or the new one whole. It
// first flushes out (in durable mode Flush returns once the stream stored
// the lines), so that the offsets, all of lines emitted before the flush,
// are of lines delivered; if the flush fails the checkpoint stays where it
// was.
func (p *Tail) saveCheckpoint(out pipeline.LineEmitter) {
	if p.checkpointPath == "" {
		return
	}
	if err := out.Flush(); err != nil {
		p.env.Stats.Errors.Add(1)
		p.env.Log.Error("lines not delivered: checkpoint not moved", "path", p.checkpointPath, "error", err)
		return
	}
	c := checkpointFile{Version: 1, Files: make(map[string]checkpointEntry, len(p.files))}
	for key, tf := range p.files {
		c.Files[key.String()] = checkpointEntry{Path: tf.path, Offset: tf.doneOff,
			HeadLen: len(tf.head.bytes), HeadSHA256: tf.head.sum(), Since: tf.since}
	}
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil || string(b) == string(p.lastSaved) {
		return
	}
	if err := pipeline.WriteFileAtomic(p.checkpointPath, b); err != nil {
		// Counted each time, logged when it starts failing or fails
		// differently: a full disk would otherwise log every interval.
		p.env.Stats.Errors.Add(1)
		cause := err // "no space left on device", without the temporary file's name
		for errors.Unwrap(cause) != nil {
			cause = errors.Unwrap(cause)
		}
		if p.saveFailing.IsZero() || cause.Error() != p.saveErr {
			p.env.Log.Error("cannot write checkpoint; the previous one stays, retrying every checkpoint_interval",
				"path", p.checkpointPath, "error", err)
		}
		if p.saveFailing.IsZero() {
			p.saveFailing = time.Now()
		}
		p.saveErr = cause.Error()
		return
	}
	if !p.saveFailing.IsZero() {
		p.env.Log.Info("checkpoint written again", "path", p.checkpointPath,
			"failed_for", time.Since(p.saveFailing).Round(time.Millisecond))
		p.saveFailing, p.saveErr = time.Time{}, ""
	}
	p.lastSaved = b
}
