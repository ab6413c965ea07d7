package heartbeat

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
)

// Serial framing turns packets into a byte stream that a receiver can cut
// back into packets however it joins the line: after noise, in the middle
// of a frame, or with bytes lost. One frame on the wire is
//
//	0x00  COBS(packet | CRC-32C(packet), little-endian)  0x00
//
// COBS (consistent overhead byte stuffing) removes every zero byte from
// the encoded body, so 0x00 only ever marks a frame boundary: a receiver
// resynchronises at the next zero, whatever came before. The length is
// carried by the boundaries themselves and checked against MaxPacket while
// bytes arrive, so a lost delimiter cannot make the receiver buffer without
// bound; the CRC then rejects the merged or truncated frame. The leading
// zero closes whatever noise the line picked up while idle, so that noise is
// discarded instead of spoiling the frame after it.
//
// Overhead: 2 delimiters + 4 CRC + at most 1 COBS code byte per started
// 254 bytes of packet+CRC, so 7 bytes for any packet up to 250 bytes and 12
// at MaxPacket (1400 -> 1412).
//
// Budget: at 19200 baud, 8N1, the line carries 10 bits per byte, 1920 B/s
// each way. With keepalive 100ms a node sends 10 packets/s; a heartbeat
// packet of 150 bytes (the upper end; typical packets are 80-120 bytes)
// costs 157 bytes on the wire, so 10 x 157 = 1570 B/s = 82% of one
// direction, leaving 350 B/s (18%) of margin; at 100 bytes a packet it is
// 10 x 107 = 1070 B/s = 56%. With two nodes each direction of the
// full-duplex cable carries one node's packets, so the budget above holds
// for each. At 9600 baud the same load does not fit: use keepalive 200ms or
// more there (785 B/s of 960).
const (
	frameDelim = 0x00
	frameCRC   = 4
	// FrameOverhead is the wire cost of a frame beyond its packet, for
	// packets up to 250 bytes.
	FrameOverhead = 2 + frameCRC + 1
	// maxEncoded bounds the COBS body of a frame of MaxPacket bytes.
	maxEncoded = MaxPacket + frameCRC + (MaxPacket+frameCRC+253)/254
	// minEncoded is the body of an empty packet; shorter bodies are noise.
	minEncoded = 1 + frameCRC
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// FrameSize is the number of bytes an n-byte packet takes on the wire.
// It is exact for packets up to 250 bytes and an upper bound above (a zero
// byte in the packet may save a code byte).
func FrameSize(n int) int {
	body := n + frameCRC
	return 2 + body + (body+253)/254
}

// AppendFrame appends the wire form of pkt to dst.
func AppendFrame(dst, pkt []byte) ([]byte, error) {
	if len(pkt) > MaxPacket {
		return dst, fmt.Errorf("heartbeat: packet of %d bytes exceeds %d", len(pkt), MaxPacket)
	}
	var crc [frameCRC]byte
	binary.LittleEndian.PutUint32(crc[:], crc32.Checksum(pkt, castagnoli))
	dst = append(dst, frameDelim)
	// COBS: each block is a code byte n followed by n-1 non-zero bytes; the
	// block stands for those bytes plus a zero, except for the last block
	// and for full blocks (code 0xFF), which imply no zero.
	codeAt := len(dst)
	dst = append(dst, 0)
	code := byte(1)
	full := false // the last block closed was a full one
	put := func(b byte) {
		full = false
		if b == 0 {
			dst[codeAt] = code
			codeAt = len(dst)
			dst = append(dst, 0)
			code = 1
			return
		}
		dst = append(dst, b)
		code++
		if code == 0xFF {
			dst[codeAt] = code
			codeAt = len(dst)
			dst = append(dst, 0)
			code = 1
			full = true
		}
	}
	for _, b := range pkt {
		put(b)
	}
	for _, b := range crc {
		put(b)
	}
	if full {
		dst = dst[:codeAt] // a full block may end the body: no empty block after it
	} else {
		dst[codeAt] = code
	}
	return append(dst, frameDelim), nil
}

// FrameStats counts what a Deframer saw.
type FrameStats struct {
	Frames    uint64 // frames delivered
	CRCErrors uint64 // damaged frames: CRC mismatch or broken byte stuffing
	Oversize  uint64 // frames longer than MaxPacket, dropped
	Garbage   uint64 // bytes in no frame: before the first delimiter, or runts too short to be one
	Bytes     uint64 // every byte fed
}

// Deframer cuts a byte stream into the packets AppendFrame made. Its zero
// value is ready and starts hunting for a delimiter, so a receiver that
// joins mid-frame discards the tail it caught (as garbage) rather than
// reporting it as corruption. It is not safe for concurrent use.
type Deframer struct {
	inFrame bool
	over    bool // current frame went past maxEncoded; drop until delimiter
	enc     []byte
	dec     []byte
	stats   FrameStats
}

// Stats returns the counters so far.
func (d *Deframer) Stats() FrameStats { return d.stats }

// Feed consumes bytes from the line and calls emit once for each intact
// packet, in order. The slice passed to emit is only valid during the call.
func (d *Deframer) Feed(b []byte, emit func(pkt []byte)) {
	d.stats.Bytes += uint64(len(b))
	for len(b) > 0 {
		if !d.inFrame {
			i := bytes.IndexByte(b, frameDelim)
			if i < 0 {
				d.stats.Garbage += uint64(len(b))
				return
			}
			d.stats.Garbage += uint64(i)
			d.inFrame = true
			b = b[i+1:]
			continue
		}
		i := bytes.IndexByte(b, frameDelim)
		chunk := b
		if i >= 0 {
			chunk = b[:i]
			b = b[i+1:]
		} else {
			b = nil
		}
		if !d.over {
			if len(d.enc)+len(chunk) > maxEncoded {
				d.over = true
				d.stats.Oversize++
				d.enc = d.enc[:0]
			} else {
				d.enc = append(d.enc, chunk...)
			}
		}
		if i >= 0 {
			d.endFrame(emit)
		}
	}
}

// endFrame handles a delimiter: the buffered body, if any, is a frame.
func (d *Deframer) endFrame(emit func(pkt []byte)) {
	enc := d.enc
	d.enc = d.enc[:0]
	if d.over {
		d.over = false
		return
	}
	if len(enc) == 0 {
		return // back-to-back delimiters: idle line or frame boundary
	}
	if len(enc) < minEncoded {
		d.stats.Garbage += uint64(len(enc))
		return
	}
	dec, ok := cobsDecode(d.dec[:0], enc)
	d.dec = dec[:0]
	if !ok || len(dec) < frameCRC {
		d.stats.CRCErrors++
		return
	}
	n := len(dec) - frameCRC
	if n > MaxPacket {
		d.stats.Oversize++
		return
	}
	if crc32.Checksum(dec[:n], castagnoli) != binary.LittleEndian.Uint32(dec[n:]) {
		d.stats.CRCErrors++
		return
	}
	d.stats.Frames++
	emit(dec[:n])
}

// cobsDecode appends the decoding of a zero-free COBS body to dst; ok is
// false when a block claims more bytes than the body holds.
func cobsDecode(dst, enc []byte) ([]byte, bool) {
	for i := 0; i < len(enc); {
		code := int(enc[i])
		i++
		if code == 0 || i+code-1 > len(enc) {
			return dst, false
		}
		dst = append(dst, enc[i:i+code-1]...)
		i += code - 1
		if code != 0xFF && i < len(enc) {
			dst = append(dst, 0)
		}
	}
	return dst, true
}
