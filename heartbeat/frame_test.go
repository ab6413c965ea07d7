package heartbeat

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"
)

// deframeAll feeds stream in chunks of size step (0: all at once) and
// returns copies of the packets delivered.
func deframeAll(d *Deframer, stream []byte, step int) [][]byte {
	var got [][]byte
	emit := func(p []byte) { got = append(got, bytes.Clone(p)) }
	if step <= 0 {
		step = len(stream) + 1
	}
	for len(stream) > 0 {
		n := min(step, len(stream))
		d.Feed(stream[:n], emit)
		stream = stream[n:]
	}
	return got
}

func mustFrame(t testing.TB, pkts ...[]byte) []byte {
	t.Helper()
	var out []byte
	for _, p := range pkts {
		var err error
		if out, err = AppendFrame(out, p); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

func filled(n int, f func(i int) byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = f(i)
	}
	return b
}

func TestFrameRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		pkt  []byte
	}{
		{"empty", nil},
		{"one zero", []byte{0}},
		{"zeros", make([]byte, 300)},
		{"no zeros 253", filled(253, func(i int) byte { return 0x41 })},
		{"no zeros 254", filled(254, func(i int) byte { return 0xFF })},
		{"no zeros 255", filled(255, func(i int) byte { return 1 })},
		{"heartbeat size", filled(150, func(i int) byte { return byte(i) })},
		{"max", filled(MaxPacket, func(i int) byte { return byte(i * 31) })},
		{"max no zeros", filled(MaxPacket, func(i int) byte { return byte(i%255 + 1) })},
		{"text", []byte("hello, world\n")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wire := mustFrame(t, tc.pkt)
			if bytes.IndexByte(wire[1:len(wire)-1], 0) >= 0 {
				t.Fatalf("zero inside frame body: %x", wire)
			}
			if len(wire) > FrameSize(len(tc.pkt)) {
				t.Errorf("frame of %d bytes for %d-byte packet, FrameSize says %d", len(wire), len(tc.pkt), FrameSize(len(tc.pkt)))
			}
			for _, step := range []int{0, 1, 3, 64} {
				var d Deframer
				got := deframeAll(&d, wire, step)
				if len(got) != 1 || !bytes.Equal(got[0], tc.pkt) {
					t.Fatalf("step %d: got %d packets %x", step, len(got), got)
				}
				if s := d.Stats(); s != (FrameStats{Frames: 1, Bytes: uint64(len(wire))}) {
					t.Errorf("step %d: stats %+v", step, s)
				}
			}
		})
	}
}

func TestFrameSize(t *testing.T) {
	for _, n := range []int{0, 100, 150, 249, 250} {
		if got := FrameSize(n); got != n+FrameOverhead {
			t.Errorf("FrameSize(%d) = %d, want %d", n, got, n+FrameOverhead)
		}
	}
	// Worst case at MaxPacket: no zero in packet or CRC.
	pkt := filled(MaxPacket, func(i int) byte { return 0x5A })
	if w := mustFrame(t, pkt); len(w) != FrameSize(MaxPacket) {
		t.Errorf("max frame %d bytes, FrameSize %d", len(w), FrameSize(MaxPacket))
	}
	if _, err := AppendFrame(nil, make([]byte, MaxPacket+1)); err == nil {
		t.Error("oversize packet framed")
	}
}

func TestDeframerDamage(t *testing.T) {
	p1, p2, p3 := []byte("first packet"), filled(150, func(i int) byte { return byte(i) }), []byte("third")
	f1, f2, f3 := mustFrame(t, p1), mustFrame(t, p2), mustFrame(t, p3)
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	flip := func(b []byte, i int) []byte {
		c := bytes.Clone(b)
		c[i] ^= 0x04
		if c[i] == 0 {
			c[i] = 0x80
		}
		return c
	}
	tests := []struct {
		name   string
		stream []byte
		want   [][]byte
		stats  FrameStats // Bytes is filled in
	}{
		{"back to back", cat(f1, f2, f3), [][]byte{p1, p2, p3}, FrameStats{Frames: 3}},
		{"shared delimiters", cat(f1, f2[1:], f3[1:]), [][]byte{p1, p2, p3}, FrameStats{Frames: 3}},
		{"noise before", cat([]byte("line noise\xff\x01"), f1), [][]byte{p1}, FrameStats{Frames: 1, Garbage: 12}},
		{"noise between", cat(f1, []byte{0x33, 0x44, 0x55}, f2), [][]byte{p1, p2}, FrameStats{Frames: 2, Garbage: 3}},
		{"join mid-frame", cat(f2[40:], f3), [][]byte{p3}, FrameStats{Frames: 1, Garbage: uint64(len(f2) - 40 - 1)}},
		{"corrupt body", cat(flip(f2, 30), f3), [][]byte{p3}, FrameStats{Frames: 1, CRCErrors: 1}},
		{"corrupt crc", cat(f1, flip(f3, len(f3)-3)), [][]byte{p1}, FrameStats{Frames: 1, CRCErrors: 1}},
		{"lost bytes", cat(f2[:60], f2[70:], f1), [][]byte{p1}, FrameStats{Frames: 1, CRCErrors: 1}},
		// A lost delimiter merges two frames: the CRC rejects them, the
		// next frame is intact.
		{"lost delimiter", cat(f1[:len(f1)-1], f2[1:], f3), [][]byte{p3}, FrameStats{Frames: 1, CRCErrors: 1}},
		{"runt", cat([]byte{0, 2, 7, 0}, f1), [][]byte{p1}, FrameStats{Frames: 1, Garbage: 2}},
		{"bad cobs", cat([]byte{0, 9, 1, 2, 3, 4, 0}, f1), [][]byte{p1}, FrameStats{Frames: 1, CRCErrors: 1}},
		{"short noise", cat([]byte{0, 9, 1, 2, 0}, f1), [][]byte{p1}, FrameStats{Frames: 1, Garbage: 3}},
		{"oversize", cat([]byte{0}, bytes.Repeat([]byte{0x11}, 3000), f1), [][]byte{p1}, FrameStats{Frames: 1, Oversize: 1}},
		{"idle delimiters", cat([]byte{0, 0, 0}, f1, []byte{0, 0}), [][]byte{p1}, FrameStats{Frames: 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, step := range []int{0, 1, 7} {
				var d Deframer
				got := deframeAll(&d, tc.stream, step)
				if len(got) != len(tc.want) {
					t.Fatalf("step %d: got %d packets, want %d", step, len(got), len(tc.want))
				}
				for i := range got {
					if !bytes.Equal(got[i], tc.want[i]) {
						t.Fatalf("step %d: packet %d = %q", step, i, got[i])
					}
				}
				want := tc.stats
				want.Bytes = uint64(len(tc.stream))
				if s := d.Stats(); s != want {
					t.Errorf("step %d: stats %+v, want %+v", step, s, want)
				}
			}
		})
	}
}

// TestDeframerRandomDamage: over many frames with random bit flips, no
// damaged packet is ever delivered and every intact frame after the
// damage is.
func TestDeframerRandomDamage(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var d Deframer
	delivered, damaged := 0, 0
	for i := range 2000 {
		pkt := filled(1+r.IntN(300), func(int) byte { return byte(r.UintN(256)) })
		wire := mustFrame(t, pkt)
		hit := r.IntN(4) == 0
		if hit {
			damaged++
			wire[1+r.IntN(len(wire)-2)] ^= byte(1 << r.IntN(8))
		}
		got := deframeAll(&d, wire, 1+r.IntN(40))
		for _, g := range got {
			if !bytes.Equal(g, pkt) {
				t.Fatalf("frame %d: delivered a packet that was not sent", i)
			}
			delivered++
		}
		if !hit && len(got) != 1 {
			t.Fatalf("frame %d: intact frame not delivered", i)
		}
	}
	s := d.Stats()
	if delivered+damaged != 2000 || s.Frames != uint64(delivered) {
		t.Errorf("delivered %d, damaged %d, stats %+v", delivered, damaged, s)
	}
	// A flip that makes a zero cuts a frame in two: up to two errors.
	if s.CRCErrors+s.Oversize == 0 || s.CRCErrors > 2*uint64(damaged) {
		t.Errorf("damaged %d, stats %+v", damaged, s)
	}
	t.Logf("2000 frames, %d damaged: %+v", damaged, s)
}

func FuzzDeframer(f *testing.F) {
	pk := filled(150, func(i int) byte { return byte(i) })
	w1, _ := AppendFrame(nil, []byte("hello"))
	w2, _ := AppendFrame(nil, pk)
	w3, _ := AppendFrame(nil, filled(300, func(int) byte { return 0xFF }))
	f.Add(w1, uint8(0))
	f.Add(append(w1, w2...), uint8(3))
	f.Add(w2[20:], uint8(1))
	f.Add(w3, uint8(17))
	f.Add([]byte{0, 0xFF, 0, 1, 1, 0, 9}, uint8(2))
	f.Add(bytes.Repeat([]byte{7}, 2000), uint8(100))
	f.Fuzz(func(t *testing.T, stream []byte, step uint8) {
		var d Deframer
		got := deframeAll(&d, stream, int(step))
		s := d.Stats()
		if s.Bytes != uint64(len(stream)) || s.Frames != uint64(len(got)) {
			t.Fatalf("stats %+v for %d bytes, %d frames", s, len(stream), len(got))
		}
		// Whatever comes out framed again goes through unchanged, and
		// the deframer delivers the same from any chunking.
		var again []byte
		for _, p := range got {
			if len(p) > MaxPacket {
				t.Fatalf("delivered %d bytes", len(p))
			}
			again, _ = AppendFrame(again, p)
		}
		var d2 Deframer
		back := deframeAll(&d2, again, 1)
		if len(back) != len(got) {
			t.Fatalf("reframed %d packets, got back %d", len(got), len(back))
		}
		for i := range back {
			if !bytes.Equal(back[i], got[i]) {
				t.Fatal(fmt.Sprintf("packet %d changed", i))
			}
		}
		var d3 Deframer
		whole := deframeAll(&d3, stream, 0)
		if len(whole) != len(got) || d3.Stats() != s {
			t.Fatalf("chunking changed the result: %+v vs %+v", d3.Stats(), s)
		}
	})
}
