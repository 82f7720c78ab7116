package nsm

import (
	"fmt"

	"github.com/weftfs/weft/graph/rpc/xdr"
)

// Program and version (XNFS chapter 11).
const (
	Program = 100024
	Version = 1
)

// Procedures (XNFS chapter 11).
const (
	ProcNull      = 0
	ProcStat      = 1
	ProcMon       = 2
	ProcUnmon     = 3
	ProcUnmonAll  = 4
	ProcSimuCrash = 5
	ProcNotify    = 6
)

// MaxStrLen is SM_MAXSTRLEN, the longest host name (XNFS chapter 11).
const MaxStrLen = 1024

// Res is the res enum of sm_stat_res.
type Res uint32

// Results.
const (
	StatSucc Res = 0
	StatFail Res = 1
)

// MyID is struct my_id: the RPC an NSM calls back when a monitored host changes state.
type MyID struct {
	Name string
	Prog int32
	Vers int32
	Proc int32
}

// MonID is struct mon_id.
type MonID struct {
	MonName string
	MyID    MyID
}

// Mon is struct mon, the argument of SM_MON.
type Mon struct {
	ID   MonID
	Priv [16]byte
}

// StatChge is struct stat_chge, the argument of SM_NOTIFY.
type StatChge struct {
	MonName string
	State   int32
}

// Status is struct status, the argument of the callback an NSM makes to my_id.
type Status struct {
	MonName string
	State   int32
	Priv    [16]byte
}

func appendMyID(b []byte, m *MyID) []byte {
	b = xdr.AppendString(b, m.Name)
	b = xdr.AppendInt32(b, m.Prog)
	b = xdr.AppendInt32(b, m.Vers)
	return xdr.AppendInt32(b, m.Proc)
}

func readMyID(d *xdr.Decoder, m *MyID) {
	m.Name = d.String(MaxStrLen)
	m.Prog = d.Int32()
	m.Vers = d.Int32()
	m.Proc = d.Int32()
}

func readMonID(d *xdr.Decoder, m *MonID) {
	m.MonName = d.String(MaxStrLen)
	readMyID(d, &m.MyID)
}

// finish checks that d consumed its whole input without error.
func finish(d *xdr.Decoder, what string) error {
	if err := d.Err(); err != nil {
		return fmt.Errorf("nsm: malformed %s: %w", what, err)
	}
	if d.Len() != 0 {
		return fmt.Errorf("nsm: malformed %s: %d trailing bytes", what, d.Len())
	}
	return nil
}

// DecodeSmName decodes struct sm_name (SM_STAT).
func DecodeSmName(b []byte) (string, error) {
	var d xdr.Decoder
	d.Reset(b)
	s := d.String(MaxStrLen)
	return s, finish(&d, "sm_name")
}

// AppendSmName appends struct sm_name.
func AppendSmName(b []byte, name string) []byte { return xdr.AppendString(b, name) }

// DecodeMon decodes struct mon (SM_MON).
func DecodeMon(b []byte) (Mon, error) {
	var d xdr.Decoder
	d.Reset(b)
	var m Mon
	readMonID(&d, &m.ID)
	copy(m.Priv[:], d.FixedOpaque(16))
	return m, finish(&d, "mon")
}

// AppendMon appends struct mon.
func AppendMon(b []byte, m *Mon) []byte {
	b = xdr.AppendString(b, m.ID.MonName)
	b = appendMyID(b, &m.ID.MyID)
	return xdr.AppendFixedOpaque(b, m.Priv[:])
}

// DecodeMonID decodes struct mon_id (SM_UNMON).
func DecodeMonID(b []byte) (MonID, error) {
	var d xdr.Decoder
	d.Reset(b)
	var m MonID
	readMonID(&d, &m)
	return m, finish(&d, "mon_id")
}

// AppendMonID appends struct mon_id.
func AppendMonID(b []byte, m *MonID) []byte {
	b = xdr.AppendString(b, m.MonName)
	return appendMyID(b, &m.MyID)
}

// DecodeMyID decodes struct my_id (SM_UNMON_ALL).
func DecodeMyID(b []byte) (MyID, error) {
	var d xdr.Decoder
	d.Reset(b)
	var m MyID
	readMyID(&d, &m)
	return m, finish(&d, "my_id")
}

// AppendMyID appends struct my_id.
func AppendMyID(b []byte, m *MyID) []byte { return appendMyID(b, m) }

// DecodeStatChge decodes struct stat_chge (SM_NOTIFY).
func DecodeStatChge(b []byte) (StatChge, error) {
	var d xdr.Decoder
	d.Reset(b)
	var s StatChge
	s.MonName = d.String(MaxStrLen)
	s.State = d.Int32()
	return s, finish(&d, "stat_chge")
}

// AppendStatChge appends struct stat_chge.
func AppendStatChge(b []byte, s *StatChge) []byte {
	b = xdr.AppendString(b, s.MonName)
	return xdr.AppendInt32(b, s.State)
}

// DecodeStatus decodes struct status (the callback to my_id).
func DecodeStatus(b []byte) (Status, error) {
	var d xdr.Decoder
	d.Reset(b)
	var s Status
	s.MonName = d.String(MaxStrLen)
	s.State = d.Int32()
	copy(s.Priv[:], d.FixedOpaque(16))
	return s, finish(&d, "status")
}

// AppendStatus appends struct status.
func AppendStatus(b []byte, s *Status) []byte {
	b = xdr.AppendString(b, s.MonName)
	b = xdr.AppendInt32(b, s.State)
	return xdr.AppendFixedOpaque(b, s.Priv[:])
}

// AppendStatRes appends struct sm_stat_res.
func AppendStatRes(b []byte, res Res, state int32) []byte {
	b = xdr.AppendUint32(b, uint32(res))
	return xdr.AppendInt32(b, state)
}

// DecodeStatRes decodes struct sm_stat_res.
func DecodeStatRes(b []byte) (Res, int32, error) {
	var d xdr.Decoder
	d.Reset(b)
	r := Res(d.Uint32())
	s := d.Int32()
	return r, s, finish(&d, "sm_stat_res")
}
