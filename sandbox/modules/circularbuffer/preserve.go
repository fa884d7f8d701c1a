package circularbuffer

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// The preserved form is binary, because cells hold NaN and ±Inf, which JSON
// cannot: "CBUF", a version byte, then varints for the shape, the current
// time and the strings, and the cells as little-endian float64 bits, oldest
// row first.
const (
	preserveMagic   = "CBUF"
	preserveVersion = 1
)

// Preserve returns the buffer's shape, headers, format and cells, for
// Restore.
func (b *Buffer) Preserve() ([]byte, error) {
	out := make([]byte, 0, 64+8*len(b.values))
	out = append(out, preserveMagic...)
	out = append(out, preserveVersion)
	out = binary.AppendUvarint(out, uint64(b.rows))
	out = binary.AppendUvarint(out, uint64(b.cols))
	out = binary.AppendUvarint(out, uint64(b.spr))
	out = binary.AppendVarint(out, b.current)
	appendString := func(s string) {
		out = binary.AppendUvarint(out, uint64(len(s)))
		out = append(out, s...)
	}
	appendString(b.format)
	for _, c := range b.columns {
		appendString(c.Name)
		appendString(c.Unit)
		appendString(c.Aggregation)
	}
	for i := range b.rows {
		r := (b.head + 1 + i) % b.rows
		for _, v := range b.values[r*b.cols : (r+1)*b.cols] {
			out = binary.LittleEndian.AppendUint64(out, math.Float64bits(v))
		}
	}
	return out, nil
}

var errTruncated = errors.New("truncated data")

// unmarshal rebuilds a buffer from Preserve's output.
func unmarshal(data []byte) (*Buffer, error) {
	b, err := decode(data)
	if err != nil {
		return nil, fmt.Errorf("circular_buffer: restore: %w", err)
	}
	return b, nil
}

func decode(data []byte) (*Buffer, error) {
	if !bytes.HasPrefix(data, []byte(preserveMagic)) {
		return nil, errors.New("not a preserved circular buffer")
	}
	r := bytes.NewReader(data[len(preserveMagic):])
	if v, err := r.ReadByte(); err != nil || v != preserveVersion {
		return nil, fmt.Errorf("unknown version %d", v)
	}
	uvarint := func() (uint64, error) {
		v, err := binary.ReadUvarint(r)
		if err != nil {
			return 0, errTruncated
		}
		return v, nil
	}
	var shape [3]uint64
	for i := range shape {
		v, err := uvarint()
		if err != nil {
			return nil, err
		}
		if v > math.MaxInt32 {
			return nil, fmt.Errorf("bad shape value %d", v)
		}
		shape[i] = v
	}
	b, err := New(int(shape[0]), int(shape[1]), int64(shape[2]))
	if err != nil {
		return nil, err
	}
	if b.current, err = binary.ReadVarint(r); err != nil {
		return nil, errTruncated
	}
	if b.current < 0 || b.current%b.spr != 0 || b.current > math.MaxInt64/1_000_000_000 {
		return nil, fmt.Errorf("bad current time %d", b.current)
	}
	readString := func(max int) (string, error) {
		n, err := uvarint()
		if err != nil {
			return "", err
		}
		if n > uint64(max) || n > uint64(r.Len()) {
			return "", fmt.Errorf("string of %d bytes, at most %d", n, max)
		}
		s := make([]byte, n)
		_, _ = r.Read(s) // the length was checked against what is left
		return string(s), nil
	}
	if b.format, err = readString(16); err != nil {
		return nil, err
	}
	if err := b.SetFormat(b.format); err != nil {
		return nil, err
	}
	for i := range b.columns {
		var name, unit, agg string
		if name, err = readString(15); err == nil {
			if unit, err = readString(7); err == nil {
				agg, err = readString(4)
			}
		}
		if err != nil {
			return nil, fmt.Errorf("column %d: %w", i+1, err)
		}
		if err := b.SetHeader(i, name, unit, agg); err != nil {
			return nil, err
		}
	}
	if r.Len() != 8*len(b.values) {
		return nil, fmt.Errorf("%d bytes of cells, want %d", r.Len(), 8*len(b.values))
	}
	cells := data[len(data)-r.Len():]
	for i := range b.values {
		b.values[i] = math.Float64frombits(binary.LittleEndian.Uint64(cells[8*i:]))
	}
	b.head = b.rows - 1 // cells were written oldest row first
	return b, nil
}
