package graph

import (
	"encoding/binary"

	"golang.org/x/sys/unix"
)

// XattropApply computes one xattrop step as GlusterFS's posix does (posix-inode-fd-ops.c,
// _posix_handle_xattr_keyvalue_pair and the __add_array* helpers): cur is the stored value (nil
// when absent; a shorter value is zero-padded), op the operand. It returns the value to store
// (store nil: write nothing — an all-zero operand leaves the xattr untouched) and the value to
// reply with (reply nil: no key in the reply). Adds reply with the new value; GetAndSet stores op
// and replies with the old value when there was one. The WithDefault forms carry the addends
// followed by the defaults: an element that is zero becomes default+addend.
// Storage leaves (posix, memory) share it.
func XattropApply(flag XattropFlag, cur, op []byte) (store, reply []byte, err error) {
	if err := XattropCheck(flag, op); err != nil {
		return nil, nil, err
	}
	if flag == XattropGetAndSet {
		var old []byte
		if cur != nil {
			old = append([]byte{}, cur...)
		}
		return append([]byte(nil), op...), old, nil
	}
	count := len(op)
	if flag == XattropAddArrayWithDefault || flag == XattropAddArray64WithDefault {
		count /= 2
	}
	if len(cur) > count {
		return nil, nil, Errorf(unix.ERANGE, "xattrop: stored value of %d bytes, operand of %d", len(cur), count)
	}
	v := make([]byte, count)
	copy(v, cur)
	if allZero(op) {
		return nil, v, nil
	}
	switch flag {
	case XattropAddArray:
		for i := 0; i < count; i += 4 {
			binary.BigEndian.PutUint32(v[i:], binary.BigEndian.Uint32(v[i:])+binary.BigEndian.Uint32(op[i:]))
		}
	case XattropAddArray64:
		for i := 0; i < count; i += 8 {
			binary.BigEndian.PutUint64(v[i:], binary.BigEndian.Uint64(v[i:])+binary.BigEndian.Uint64(op[i:]))
		}
	case XattropAddArrayWithDefault:
		for i := 0; i < count; i += 4 {
			d, add := binary.BigEndian.Uint32(v[i:]), binary.BigEndian.Uint32(op[i:])
			if d == 0 {
				d = binary.BigEndian.Uint32(op[count+i:])
			}
			binary.BigEndian.PutUint32(v[i:], d+add)
		}
	case XattropAddArray64WithDefault:
		for i := 0; i < count; i += 8 {
			d, add := binary.BigEndian.Uint64(v[i:]), binary.BigEndian.Uint64(op[i:])
			if d == 0 {
				d = binary.BigEndian.Uint64(op[count+i:])
			}
			binary.BigEndian.PutUint64(v[i:], d+add)
		}
	case XattropOrArray:
		for i := range v {
			v[i] |= op[i]
		}
	case XattropAndArray:
		for i := range v {
			v[i] &= op[i]
		}
	}
	return v, append([]byte(nil), v...), nil
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// XattropCheck reports whether op is a valid operand for flag: a known flag and a non-empty
// length that is a multiple of the flag's element size (values and defaults for the WithDefault
// forms).
func XattropCheck(flag XattropFlag, op []byte) error {
	unit := 1
	switch flag {
	case XattropAddArray:
		unit = 4
	case XattropAddArray64:
		unit = 8
	case XattropAddArrayWithDefault:
		unit = 8
	case XattropAddArray64WithDefault:
		unit = 16
	case XattropOrArray, XattropAndArray, XattropGetAndSet:
	default:
		return Errorf(unix.EINVAL, "xattrop: unknown flag %d", flag)
	}
	if len(op) == 0 || len(op)%unit != 0 {
		return Errorf(unix.EINVAL, "xattrop: operand of %d bytes for flag %d", len(op), flag)
	}
	return nil
}
