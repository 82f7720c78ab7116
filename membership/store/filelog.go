package store

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

const (
	recLog    = 1
	recDelete = 2

	maxRecord = 64 << 20 // a record larger than this is corruption
)

// FileLog is a durable raft.LogStore and raft.StableStore in a directory: raft.log (append-only
// records, fsync'ed per write) and stable.json (replaced atomically). Entries are also kept in
// memory; the cluster log is small and raft trims it after each snapshot.
type FileLog struct {
	dir string

	mu          sync.Mutex
	f           *os.File
	size        int64
	logs        map[uint64]*raft.Log
	first, last uint64
	dead        int // records in the file that no longer describe a live entry
	stable      map[string][]byte
	closed      bool
}

var (
	_ raft.LogStore    = (*FileLog)(nil)
	_ raft.StableStore = (*FileLog)(nil)
)

// OpenFileLog opens (creating if needed) the log in dir and replays it. A record cut short at
// the end of the file (a crash during an append) is dropped and the file truncated there; a
// damaged record anywhere else is an error.
func OpenFileLog(dir string) (*FileLog, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("raft log: %w", err)
	}
	l := &FileLog{dir: dir, logs: map[uint64]*raft.Log{}, stable: map[string][]byte{}}
	if b, err := os.ReadFile(filepath.Join(dir, "stable.json")); err == nil {
		if err := json.Unmarshal(b, &l.stable); err != nil {
			return nil, fmt.Errorf("raft log: %s: %w", filepath.Join(dir, "stable.json"), err)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("raft log: %w", err)
	}
	path := filepath.Join(dir, "raft.log")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("raft log: %w", err)
	}
	good, err := l.replay(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("raft log: %s: %w", path, err)
	}
	if err := f.Truncate(good); err != nil {
		f.Close()
		return nil, fmt.Errorf("raft log: %w", err)
	}
	if _, err := f.Seek(good, io.SeekStart); err != nil {
		f.Close()
		return nil, fmt.Errorf("raft log: %w", err)
	}
	l.f, l.size = f, good
	return l, nil
}

// replay reads every record and returns the offset after the last whole one.
func (l *FileLog) replay(f *os.File) (int64, error) {
	st, err := f.Stat()
	if err != nil {
		return 0, err
	}
	r := bufio.NewReader(f)
	var off int64
	var hdr [8]byte
	for {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			return off, nil // end, or a torn header
		}
		n := binary.BigEndian.Uint32(hdr[:4])
		sum := binary.BigEndian.Uint32(hdr[4:])
		if n == 0 || n > maxRecord {
			if off+8+int64(n) >= st.Size() {
				return off, nil
			}
			return 0, fmt.Errorf("record at offset %d: bad length %d", off, n)
		}
		body := make([]byte, n)
		if _, err := io.ReadFull(r, body); err != nil {
			return off, nil // torn tail
		}
		end := off + 8 + int64(n)
		if crc32.Checksum(body, castagnoli) != sum {
			if end >= st.Size() {
				return off, nil // torn tail
			}
			return 0, fmt.Errorf("record at offset %d: checksum mismatch", off)
		}
		if err := l.applyRecord(body); err != nil {
			return 0, fmt.Errorf("record at offset %d: %w", off, err)
		}
		off = end
	}
}

func (l *FileLog) applyRecord(b []byte) error {
	switch b[0] {
	case recLog:
		if len(b) < 1+8+8+1+8 {
			return errors.New("short log record")
		}
		lg := &raft.Log{
			Index: binary.BigEndian.Uint64(b[1:]),
			Term:  binary.BigEndian.Uint64(b[9:]),
			Type:  raft.LogType(b[17]),
		}
		if ns := int64(binary.BigEndian.Uint64(b[18:])); ns != 0 {
			lg.AppendedAt = time.Unix(0, ns)
		}
		lg.Data = append([]byte(nil), b[26:]...)
		l.put(lg)
	case recDelete:
		if len(b) != 17 {
			return errors.New("bad delete record")
		}
		l.del(binary.BigEndian.Uint64(b[1:]), binary.BigEndian.Uint64(b[9:]))
	default:
		return fmt.Errorf("unknown record kind %d", b[0])
	}
	return nil
}

func (l *FileLog) put(lg *raft.Log) {
	if _, ok := l.logs[lg.Index]; ok {
		l.dead++
	}
	l.logs[lg.Index] = lg
	if l.first == 0 || lg.Index < l.first {
		l.first = lg.Index
	}
	if lg.Index > l.last {
		l.last = lg.Index
	}
}

func (l *FileLog) del(min, max uint64) {
	l.dead++ // the delete record itself
	if len(l.logs) == 0 || min > max {
		return
	}
	if min < l.first {
		min = l.first
	}
	if max > l.last {
		max = l.last
	}
	for i := min; i <= max && i != 0; i++ {
		if _, ok := l.logs[i]; ok {
			delete(l.logs, i)
			l.dead++
		}
	}
	if len(l.logs) == 0 {
		l.first, l.last = 0, 0
		return
	}
	for l.logs[l.first] == nil {
		l.first++
	}
	for l.logs[l.last] == nil {
		l.last--
	}
}

func encodeLog(lg *raft.Log) []byte {
	b := make([]byte, 26+len(lg.Data))
	b[0] = recLog
	binary.BigEndian.PutUint64(b[1:], lg.Index)
	binary.BigEndian.PutUint64(b[9:], lg.Term)
	b[17] = byte(lg.Type)
	if !lg.AppendedAt.IsZero() {
		binary.BigEndian.PutUint64(b[18:], uint64(lg.AppendedAt.UnixNano()))
	}
	copy(b[26:], lg.Data)
	return b
}

func frame(w io.Writer, body []byte) (int64, error) {
	var hdr [8]byte
	binary.BigEndian.PutUint32(hdr[:4], uint32(len(body)))
	binary.BigEndian.PutUint32(hdr[4:], crc32.Checksum(body, castagnoli))
	if _, err := w.Write(hdr[:]); err != nil {
		return 0, err
	}
	if _, err := w.Write(body); err != nil {
		return 0, err
	}
	return int64(8 + len(body)), nil
}

// appendRecords writes records and fsyncs; on failure the file is cut back to its old size so
// memory and file agree.
func (l *FileLog) appendRecords(bodies [][]byte) error {
	if l.closed {
		return errors.New("raft log: closed")
	}
	w := bufio.NewWriter(l.f)
	var n int64
	for _, b := range bodies {
		k, err := frame(w, b)
		if err != nil {
			return l.rollback(err)
		}
		n += k
	}
	if err := w.Flush(); err != nil {
		return l.rollback(err)
	}
	if err := l.f.Sync(); err != nil {
		return l.rollback(err)
	}
	l.size += n
	return nil
}

func (l *FileLog) rollback(err error) error {
	_ = l.f.Truncate(l.size)
	_, _ = l.f.Seek(l.size, io.SeekStart)
	return fmt.Errorf("raft log: append: %w", err)
}

// FirstIndex implements raft.LogStore.
func (l *FileLog) FirstIndex() (uint64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.first, nil
}

// LastIndex implements raft.LogStore.
func (l *FileLog) LastIndex() (uint64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.last, nil
}

// GetLog implements raft.LogStore.
func (l *FileLog) GetLog(index uint64, out *raft.Log) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	lg, ok := l.logs[index]
	if !ok {
		return raft.ErrLogNotFound
	}
	*out = *lg
	out.Data = append([]byte(nil), lg.Data...)
	return nil
}

// StoreLog implements raft.LogStore.
func (l *FileLog) StoreLog(lg *raft.Log) error { return l.StoreLogs([]*raft.Log{lg}) }

// StoreLogs implements raft.LogStore: the entries are on stable storage when it returns.
func (l *FileLog) StoreLogs(logs []*raft.Log) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	bodies := make([][]byte, len(logs))
	for i, lg := range logs {
		bodies[i] = encodeLog(lg)
	}
	if err := l.appendRecords(bodies); err != nil {
		return err
	}
	for _, lg := range logs {
		c := *lg
		c.Data = append([]byte(nil), lg.Data...)
		l.put(&c)
	}
	return nil
}

// DeleteRange implements raft.LogStore (min and max inclusive).
func (l *FileLog) DeleteRange(min, max uint64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := make([]byte, 17)
	b[0] = recDelete
	binary.BigEndian.PutUint64(b[1:], min)
	binary.BigEndian.PutUint64(b[9:], max)
	if err := l.appendRecords([][]byte{b}); err != nil {
		return err
	}
	l.del(min, max)
	if l.dead > 1024 && l.dead > 2*len(l.logs) {
		return l.compact()
	}
	return nil
}

// compact rewrites the file with only the live entries (write a new file, fsync, rename,
// fsync the directory).
func (l *FileLog) compact() error {
	path := filepath.Join(l.dir, "raft.log")
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("raft log: compact: %w", err)
	}
	w := bufio.NewWriter(f)
	var size int64
	for i := l.first; i <= l.last && i != 0; i++ {
		lg, ok := l.logs[i]
		if !ok {
			continue
		}
		n, err := frame(w, encodeLog(lg))
		if err != nil {
			f.Close()
			return fmt.Errorf("raft log: compact: %w", err)
		}
		size += n
	}
	if err := errors.Join(w.Flush(), f.Sync()); err != nil {
		f.Close()
		return fmt.Errorf("raft log: compact: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		f.Close()
		return fmt.Errorf("raft log: compact: %w", err)
	}
	if err := syncDir(l.dir); err != nil {
		f.Close()
		return fmt.Errorf("raft log: compact: %w", err)
	}
	if _, err := f.Seek(size, io.SeekStart); err != nil {
		f.Close()
		return fmt.Errorf("raft log: compact: %w", err)
	}
	l.f.Close()
	l.f, l.size, l.dead = f, size, 0
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Set implements raft.StableStore.
func (l *FileLog) Set(key, val []byte) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	old, had := l.stable[string(key)]
	l.stable[string(key)] = append([]byte(nil), val...)
	if err := l.saveStable(); err != nil {
		if had {
			l.stable[string(key)] = old
		} else {
			delete(l.stable, string(key))
		}
		return err
	}
	return nil
}

// Get implements raft.StableStore. A missing key is raft's "not found" error text, as
// raft-boltdb returns.
func (l *FileLog) Get(key []byte) ([]byte, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	v, ok := l.stable[string(key)]
	if !ok {
		return nil, errors.New("not found")
	}
	return append([]byte(nil), v...), nil
}

// SetUint64 implements raft.StableStore.
func (l *FileLog) SetUint64(key []byte, val uint64) error {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], val)
	return l.Set(key, b[:])
}

// GetUint64 implements raft.StableStore (0 for a missing key).
func (l *FileLog) GetUint64(key []byte) (uint64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	v, ok := l.stable[string(key)]
	if !ok || len(v) != 8 {
		return 0, nil
	}
	return binary.BigEndian.Uint64(v), nil
}

func (l *FileLog) saveStable() error {
	if l.closed {
		return errors.New("raft stable store: closed")
	}
	b, err := json.Marshal(l.stable)
	if err != nil {
		return err
	}
	return WriteFileAtomic(filepath.Join(l.dir, "stable.json"), b, 0o600)
}

// Close closes the log file.
func (l *FileLog) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil
	}
	l.closed = true
	return l.f.Close()
}

// WriteFileAtomic writes data to path through a temporary file, fsync and rename, then fsyncs
// the directory: after a crash the file holds the old or the new content, never a mix.
func WriteFileAtomic(path string, data []byte, perm os.FileMode) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, perm)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return err
	}
	return syncDir(filepath.Dir(path))
}
