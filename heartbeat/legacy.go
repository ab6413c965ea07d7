package heartbeat

import (
	"bytes"
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"strconv"
	"strings"
)

// This file reads the messages of Linux-HA Heartbeat 3 as they travel on
// its UDP port, so that a node can tell a live Heartbeat peer from
// silence during a migration. Only reading and verifying is done here;
// nothing is ever sent in this format.
//
// On the wire Heartbeat 3.0.6 sends every signed message in the netstring
// form of cluster-glue's message library:
//
//	"###\n" { LEN ":(" TYPE ")" NAME "=" VALUE "," } "%%%\n" LEN ":" KEYNUM " " HEX ","
//
// where LEN counts the bytes from "(" to the end of VALUE, TYPE 0 is a
// string and 1 raw bytes (2 to 5 nest messages or lists), and the trailer
// signs every byte from "###\n" through "%%%\n" with authkeys key KEYNUM:
// HMAC-SHA1 or HMAC-MD5 of the secret, or crc (CRC-32/POSIX without the
// length, no key), in lowercase hex. The classic form, ">>>\n" then
// "NAME=VALUE\n" lines then "<<<\n", carries its signature in an "auth"
// field over the other fields' lines (raw bytes as "(1)NAME=" base64).

// LegacyKey is one authkeys key as Heartbeat uses it.
type LegacyKey struct {
	Method string // "sha1", "md5" or "crc"
	Secret []byte
}

// LegacyMsg is a Heartbeat message's fields: strings as they are, raw
// bytes as they came; nested messages and lists are left out.
type LegacyMsg struct {
	Fields map[string]string
	KeyNum int // the authkeys key it was signed with
}

// Get is a field's value, "" when absent.
func (m *LegacyMsg) Get(name string) string { return m.Fields[name] }

// Hex is a field written in hex (seq, hg, ts, dt), and whether it was.
func (m *LegacyMsg) Hex(name string) (uint64, bool) {
	v, err := strconv.ParseUint(m.Fields[name], 16, 64)
	return v, err == nil
}

// ErrNotLegacy: the bytes are no Heartbeat message (they may be hbgo's).
var ErrNotLegacy = errors.New("not a Heartbeat message")

// ParseLegacy reads and verifies one Heartbeat message with keys (by
// authkeys number). An unknown key or a wrong signature is an error:
// nothing of such a message may be believed.
func ParseLegacy(b []byte, keys map[int]LegacyKey) (*LegacyMsg, error) {
	switch {
	case bytes.HasPrefix(b, []byte("###\n")):
		return parseNetstringMsg(b, keys)
	case bytes.HasPrefix(b, []byte(">>>\n")):
		return parseClassicMsg(b, keys)
	}
	return nil, ErrNotLegacy
}

// netField reads one "LEN:BODY," netstring at b[i:], returning BODY and
// the index after the comma.
func netField(b []byte, i int) (body []byte, next int, err error) {
	colon := bytes.IndexByte(b[i:], ':')
	if colon <= 0 || colon > 10 {
		return nil, 0, errors.New("bad netstring length")
	}
	n, err := strconv.Atoi(string(b[i : i+colon]))
	if err != nil || n < 0 {
		return nil, 0, errors.New("bad netstring length")
	}
	start := i + colon + 1
	if start+n >= len(b) || b[start+n] != ',' {
		return nil, 0, errors.New("netstring cut short")
	}
	return b[start : start+n], start + n + 1, nil
}

func parseNetstringMsg(b []byte, keys map[int]LegacyKey) (*LegacyMsg, error) {
	m := &LegacyMsg{Fields: map[string]string{}}
	i := len("###\n")
	for {
		if bytes.HasPrefix(b[i:], []byte("%%%\n")) {
			i += len("%%%\n")
			break
		}
		if i >= len(b) {
			return nil, errors.New("message not terminated")
		}
		body, next, err := netField(b, i)
		if err != nil {
			return nil, err
		}
		i = next
		if len(body) < 4 || body[0] != '(' || body[2] != ')' {
			return nil, errors.New("bad field")
		}
		typ := body[1]
		eq := bytes.IndexByte(body[3:], '=')
		if eq < 0 {
			return nil, errors.New("field without a name")
		}
		name, value := string(body[3:3+eq]), body[3+eq+1:]
		if typ == '0' || typ == '1' {
			m.Fields[name] = string(value)
		}
	}
	signed := b[:i]
	trailer, next, err := netField(b, i)
	if err != nil {
		return nil, fmt.Errorf("signature: %w", err)
	}
	if next != len(b) {
		return nil, errors.New("bytes after the signature")
	}
	num, token, ok := strings.Cut(string(trailer), " ")
	if !ok {
		return nil, errors.New("signature without a key number")
	}
	return m, m.verify(num, token, signed, keys)
}

func parseClassicMsg(b []byte, keys map[int]LegacyKey) (*LegacyMsg, error) {
	m := &LegacyMsg{Fields: map[string]string{}}
	text := strings.TrimSuffix(string(b), "\x00")
	lines := strings.Split(text, "\n")
	if len(lines) < 3 || lines[0] != ">>>" {
		return nil, ErrNotLegacy
	}
	var signed strings.Builder
	end := false
	for _, l := range lines[1:] {
		if l == "<<<" {
			end = true
			break
		}
		name, value, ok := strings.Cut(l, "=")
		if !ok {
			return nil, errors.New("line without =")
		}
		if name == "auth" {
			m.Fields[name] = value
			continue
		}
		signed.WriteString(l + "\n")
		switch {
		case strings.HasPrefix(name, "(1)"):
			raw, err := base64.StdEncoding.DecodeString(value)
			if err != nil {
				return nil, fmt.Errorf("field %s: %w", name, err)
			}
			m.Fields[name[3:]] = string(raw)
		case strings.HasPrefix(name, "("):
			// nested: not read
		default:
			m.Fields[name] = value
		}
	}
	if !end {
		return nil, errors.New("message not terminated")
	}
	num, token, ok := strings.Cut(m.Fields["auth"], " ")
	if !ok {
		return nil, errors.New("no auth field")
	}
	delete(m.Fields, "auth")
	return m, m.verify(num, token, []byte(signed.String()), keys)
}

// verify checks token, the signature of signed by key num.
func (m *LegacyMsg) verify(num, token string, signed []byte, keys map[int]LegacyKey) error {
	n, err := strconv.Atoi(num)
	if err != nil {
		return fmt.Errorf("key number %q", num)
	}
	k, ok := keys[n]
	if !ok {
		return drop(DropKey, "Heartbeat message signed with key %d, not defined here", n)
	}
	want, err := LegacySign(k, signed)
	if err != nil {
		return err
	}
	if !hmac.Equal([]byte(want), []byte(token)) {
		return drop(DropAuth, "Heartbeat message: signature does not match")
	}
	m.KeyNum = n
	return nil
}

// LegacySign is Heartbeat's signature of text under k, as its HBauth
// plugins make it.
func LegacySign(k LegacyKey, text []byte) (string, error) {
	var h func() hash.Hash
	switch k.Method {
	case "sha1":
		h = sha1.New
	case "md5":
		h = md5.New
	case "crc":
		return strconv.FormatUint(uint64(crcPOSIX(text)), 16), nil
	default:
		return "", fmt.Errorf("authkeys method %q", k.Method)
	}
	mac := hmac.New(h, k.Secret)
	mac.Write(text)
	return hex.EncodeToString(mac.Sum(nil)), nil
}

// crcTable is CRC-32's table in the unreflected order POSIX cksum uses
// (polynomial 0x04C11DB7, most significant bit first); Go's hash/crc32
// has only the reflected one.
var crcTable = func() (t [256]uint32) {
	for i := range t {
		c := uint32(i) << 24
		for range 8 {
			if c&0x80000000 != 0 {
				c = c<<1 ^ 0x04C11DB7
			} else {
				c <<= 1
			}
		}
		t[i] = c
	}
	return t
}()

// crcPOSIX is cksum's CRC of b without the length cksum adds after it,
// as Heartbeat's crc method computes it.
func crcPOSIX(b []byte) uint32 {
	var c uint32
	for _, x := range b {
		c = c<<8 ^ crcTable[byte(c>>24)^x]
	}
	return ^c
}
