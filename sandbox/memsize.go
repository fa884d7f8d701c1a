package sandbox

import (
	"reflect"
	"slices"
	"sync"
	"unsafe"

	lua "github.com/yuin/gopher-lua"
)

// Sizer is implemented by the Go values that modules keep in userdata
// (circular buffers, change detectors) to have their memory counted in the
// sandbox's memory estimate. A userdata whose value is not a Sizer counts
// as 64 bytes.
type Sizer interface {
	SizeBytes() int64
}

// The estimate of a state's size walks everything reachable from its
// globals and registry, between calls, with gopher-lua's data structures
// costed as the Go runtime lays them out on 64-bit platforms. It reads the
// lengths of LTable's unexported slices and maps by reflection: deleting a
// key does not shrink a gopher-lua table (its key list keeps every key it
// ever held), and the estimate must see that.

// Go's sizes: an LValue interface is two words; boxing a string costs its
// header, boxing a float64 a word.
const (
	ifaceBytes      = 16
	stringBoxBytes  = 16
	numberBoxBytes  = 8
	functionBytes   = int64(unsafe.Sizeof(lua.LFunction{}))
	upvalueBytes    = 48 + 8 // an *Upvalue and the pointer to it
	userdataBytes   = int64(unsafe.Sizeof(lua.LUserData{}))
	opaqueValue     = 64 // a userdata value that is not a Sizer
	protoBytes      = int64(unsafe.Sizeof(lua.FunctionProto{}))
	tableBytes      = int64(unsafe.Sizeof(lua.LTable{}))
	threadBytes     = 1024
	walkInitialSeen = 256
)

// Go maps (Swiss tables): a 48-byte header; slots in groups of eight, each
// slot with a control byte; a map of up to eight entries made without a
// larger hint is one group, a larger one has tables of a power-of-two
// number of slots, filled to 7/8, plus a directory.
const (
	mapHeaderBytes = 48
	mapTableBytes  = 64 // table structs and directory of a large map
	smallMapSlots  = 8
	hintedMapSlots = 64 // gopher-lua makes strdict with a hint of 32
)

// Slot sizes of LTable's maps: strdict string → LValue, dict LValue →
// LValue, k2i LValue → int.
const (
	strdictSlot = 16 + ifaceBytes
	dictSlot    = ifaceBytes + ifaceBytes
	k2iSlot     = ifaceBytes + 8
)

// tableField indexes LTable's unexported fields for reflection.
var tableField = func() (f struct{ array, dict, strdict, keys, k2i int }) {
	t := reflect.TypeOf(lua.LTable{})
	idx := func(name string) int {
		sf, ok := t.FieldByName(name)
		if !ok {
			panic("sandbox: gopher-lua's LTable has no field " + name)
		}
		return sf.Index[0]
	}
	f.array, f.dict, f.strdict, f.keys, f.k2i = idx("array"), idx("dict"), idx("strdict"), idx("keys"), idx("k2i")
	return f
}()

// tableOwnBytes is what a table's own structures cost, not its contents.
func tableOwnBytes(tb *lua.LTable) int64 {
	v := reflect.ValueOf(tb).Elem()
	n := tableBytes
	n += int64(v.Field(tableField.array).Cap()) * ifaceBytes
	n += int64(v.Field(tableField.keys).Cap()) * ifaceBytes
	n += mapBytes(v.Field(tableField.strdict), strdictSlot)
	n += mapBytes(v.Field(tableField.dict), dictSlot)
	k2i := v.Field(tableField.k2i)
	n += mapBytes(k2i, k2iSlot)
	// Deleted keys stay in keys and k2i, boxed; the walk does not see them.
	if dead := k2i.Len() - v.Field(tableField.strdict).Len() - v.Field(tableField.dict).Len(); dead > 0 {
		n += int64(dead) * (stringBoxBytes + 16)
	}
	return n
}

func mapBytes(m reflect.Value, slot int64) int64 {
	slots := mapSlots(m)
	if slots == 0 {
		if m.IsNil() {
			return 0
		}
		return mapHeaderBytes
	}
	n := mapHeaderBytes + int64(slots)*(slot+1)
	if slots > smallMapSlots {
		n += mapTableBytes
	}
	return n
}

// mapSlots returns how many slots map m has room for. Go does not say; a
// map's length does not either, because gopher-lua makes its string maps
// with a hint of 32 (a 64-slot table even for one key) and a Go map never
// shrinks. So it reads the runtime's map header: its first word is the
// length and its fourth the directory length, 0 for a small map of one
// group. Reading is checked (the first word must equal Len); if the layout
// ever differs, it falls back to the length's growth rule.
func mapSlots(m reflect.Value) int {
	if m.IsNil() {
		return 0
	}
	n := m.Len()
	h := (*[4]uintptr)(m.UnsafePointer()) // used, seed, dirPtr, dirLen
	if uint64(h[0]) == uint64(n) && h[3] <= 1<<24 {
		switch {
		case h[3] == 0 && h[2] == 0:
			return 0 // no group allocated yet
		case h[3] == 0:
			return smallMapSlots
		case n <= hintedMapSlots*7/8:
			return hintedMapSlots
		}
	}
	return grownSlots(n)
}

// grownSlots is the capacity of a map of n entries grown by inserts.
func grownSlots(n int) int {
	if n <= smallMapSlots {
		return smallMapSlots
	}
	slots := 16
	for slots*7/8 < n {
		slots *= 2
	}
	return slots
}

// registryBytes is the capacity of the state's value stack, which grows
// with deep calls and never shrinks.
func registryBytes(L *lua.LState) int64 {
	reg := reflect.ValueOf(L).Elem().FieldByName("reg")
	if !reg.IsValid() || reg.IsNil() {
		return 0
	}
	arr := reg.Elem().FieldByName("array")
	if !arr.IsValid() {
		return 0
	}
	return int64(arr.Cap()) * ifaceBytes
}

// stackValues returns the values on the state's value stack up to its top:
// the locals and temporaries of the calls in progress, which a measure
// taken during a call must see (between calls the stack is empty).
func stackValues(L *lua.LState) []lua.LValue {
	reg := reflect.ValueOf(L).Elem().FieldByName("reg")
	if !reg.IsValid() || reg.IsNil() {
		return nil
	}
	r := reg.Elem()
	arr, top := r.FieldByName("array"), r.FieldByName("top")
	if !arr.IsValid() || !top.IsValid() || arr.Type() != lvalueSlice || top.Kind() != reflect.Int {
		return nil
	}
	vals := *(*[]lua.LValue)(unsafe.Pointer(arr.UnsafeAddr()))
	return vals[:min(max(int(top.Int()), 0), len(vals))]
}

var lvalueSlice = reflect.TypeOf([]lua.LValue(nil))

// walkers keeps the walks' scratch space between walks, shared by every
// sandbox rather than held by each.
var walkers = sync.Pool{New: func() any { return new(memWalker) }}

// estimateSize returns the estimate for everything reachable from roots,
// stopping early once it passes limit.
func estimateSize(roots []lua.LValue, limit int64) int64 {
	w := walkers.Get().(*memWalker)
	n := w.size(roots, limit)
	walkers.Put(w)
	return n
}

// memWalker estimates the memory reachable from a set of roots.
type memWalker struct {
	seen   map[any]struct{}
	stack  []lua.LValue
	total  int64
	limit  int64
	values int // objects visited, for tests
}

// size returns the estimate for everything reachable from roots; it stops
// early, returning more than limit, once the total passes limit.
func (w *memWalker) size(roots []lua.LValue, limit int64) int64 {
	if w.seen == nil {
		w.seen = make(map[any]struct{}, walkInitialSeen)
	}
	clear(w.seen)
	w.stack, w.total, w.limit, w.values = w.stack[:0], 0, limit, 0
	for _, r := range roots {
		w.push(r)
	}
	for len(w.stack) > 0 && w.total <= w.limit {
		v := w.stack[len(w.stack)-1]
		w.stack = w.stack[:len(w.stack)-1]
		w.visit(v)
	}
	clear(w.stack[:cap(w.stack)])
	if cap(w.stack) > 1<<16 {
		w.stack = nil
	}
	if len(w.seen) > 1<<16 {
		w.seen = nil
	}
	return w.total
}

// push counts a value held in a slot and schedules the objects it points to.
func (w *memWalker) push(v lua.LValue) {
	switch x := v.(type) {
	case lua.LString:
		w.total += stringBoxBytes + int64(len(x))
	case lua.LNumber:
		w.total += numberBoxBytes
	case *lua.LTable, *lua.LFunction, *lua.LUserData, *lua.LState:
		if _, ok := w.seen[x]; !ok {
			w.seen[x] = struct{}{}
			w.stack = append(w.stack, v)
		}
	}
}

func (w *memWalker) visit(v lua.LValue) {
	w.values++
	switch x := v.(type) {
	case *lua.LTable:
		w.total += tableOwnBytes(x)
		if x.Metatable != nil {
			w.push(x.Metatable)
		}
		x.ForEach(func(k, v lua.LValue) {
			w.push(k)
			w.push(v)
		})
	case *lua.LFunction:
		w.total += functionBytes + int64(len(x.Upvalues))*upvalueBytes
		if x.Env != nil {
			w.push(x.Env)
		}
		for _, uv := range x.Upvalues {
			if uv != nil {
				w.push(uv.Value())
			}
		}
		if x.Proto != nil {
			w.proto(x.Proto)
		}
	case *lua.LUserData:
		w.total += userdataBytes
		switch val := x.Value.(type) {
		case nil:
		case nsValue:
			w.total += 8
		case Sizer:
			w.total += val.SizeBytes()
		default:
			w.total += opaqueValue
		}
		if x.Metatable != nil {
			w.push(x.Metatable)
		}
		if x.Env != nil {
			w.push(x.Env)
		}
	case *lua.LState:
		w.total += threadBytes
	}
}

// proto counts a function prototype (compiled code, shared by closures)
// once, with its nested prototypes.
func (w *memWalker) proto(p *lua.FunctionProto) {
	if _, ok := w.seen[p]; ok {
		return
	}
	w.seen[p] = struct{}{}
	n := protoBytes + int64(len(p.Code))*4 + int64(len(p.Constants))*ifaceBytes +
		int64(len(p.DbgSourcePositions))*8 + int64(len(p.DbgLocals))*48 +
		int64(len(p.DbgCalls))*32 + int64(len(p.DbgUpvalues))*16 + int64(len(p.SourceName))
	for _, c := range p.Constants {
		if s, ok := c.(lua.LString); ok {
			n += stringBoxBytes + 2*int64(len(s)) // the constant and its string copy
		}
	}
	for _, l := range p.DbgLocals {
		n += int64(len(l.Name))
	}
	w.total += n
	for _, c := range p.FunctionPrototypes {
		w.proto(c)
	}
}

// trimProto gives a compiled function's slices their exact size:
// gopher-lua's compiler starts each prototype with room for 128
// instructions, 128 positions and 128 calls (about 6 KiB), which an idle
// sandbox would otherwise keep for every function of its script.
func trimProto(p *lua.FunctionProto) {
	p.Code = slices.Clip(slices.Clone(p.Code))
	p.Constants = slices.Clip(slices.Clone(p.Constants))
	p.FunctionPrototypes = slices.Clip(slices.Clone(p.FunctionPrototypes))
	p.DbgSourcePositions = slices.Clip(slices.Clone(p.DbgSourcePositions))
	p.DbgLocals = slices.Clip(slices.Clone(p.DbgLocals))
	p.DbgCalls = slices.Clip(slices.Clone(p.DbgCalls))
	p.DbgUpvalues = slices.Clip(slices.Clone(p.DbgUpvalues))
	for _, c := range p.FunctionPrototypes {
		trimProto(c)
	}
}
