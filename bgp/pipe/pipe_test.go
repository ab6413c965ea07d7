package pipe

import (
	"context"
	"errors"
	"net/netip"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// speakerBin builds the hbgo-bgp program for the test.
func speakerBin(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), Program)
	out, err := exec.Command("go", "build", "-o", bin, "hbgo/cmd/hbgo-bgp").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// TestSpeakerProcess drives the real hbgo-bgp: a bad configuration is
// refused at start with the speaker's own message; a good one starts,
// announces and withdraws (its neighbour on loopback does not answer,
// so the session is not established), reports its session, and stops;
// a speaker that dies makes every call fail at once.
func TestSpeakerProcess(t *testing.T) {
	bin := speakerBin(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	if _, err := Start(ctx, bin, Config{LocalAS: 0, RouterID: netip.MustParseAddr("192.0.2.1"),
		Neighbors: []Neighbor{{Addr: netip.MustParseAddr("127.0.0.1"), PeerAS: 65000, Port: 1}}}, nil); err == nil || !strings.Contains(err.Error(), "local AS") {
		t.Errorf("AS 0: %v, want the speaker's refusal", err)
	}
	// The BFD settings cross the pipe: a multiplier the speaker refuses.
	if _, err := Start(ctx, bin, Config{LocalAS: 65001, RouterID: netip.MustParseAddr("192.0.2.1"),
		Neighbors: []Neighbor{{Addr: netip.MustParseAddr("127.0.0.1"), PeerAS: 65000, Port: 1, BFD: true, BFDMultiplier: 1}}}, nil); err == nil || !strings.Contains(err.Error(), "BFD multiplier 1") {
		t.Errorf("BFD multiplier 1: %v, want the speaker's refusal", err)
	}

	cfg := Config{Node: "d1", LocalAS: 65001, RouterID: netip.MustParseAddr("192.0.2.1"), Communities: []string{"65000:7"},
		Neighbors: []Neighbor{{Addr: netip.MustParseAddr("127.0.0.1"), PeerAS: 65000, Port: 1, HoldTime: 3 * time.Second}}}
	sp, err := Start(ctx, bin, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	vip := netip.MustParsePrefix("203.0.113.10/32")
	if err := sp.Announce(ctx, vip); err != nil {
		t.Fatal(err)
	}
	if got := sp.Announced(); len(got) != 1 || got[0] != vip {
		t.Errorf("announced %v", got)
	}
	if err := sp.Announce(ctx, netip.MustParsePrefix("203.0.113.0/24")); err == nil {
		t.Error("a /24 was announced")
	}
	ss, err := sp.Sessions(ctx)
	if err != nil || len(ss) != 1 || ss[0].Neighbor != netip.MustParseAddr("127.0.0.1") || ss[0].State == "Established" {
		t.Errorf("sessions %+v %v", ss, err)
	}
	if err := sp.Withdraw(ctx, vip); err != nil || len(sp.Announced()) != 0 {
		t.Errorf("withdraw: %v, announced %v", err, sp.Announced())
	}
	if err := sp.Stop(ctx); err != nil {
		t.Errorf("stop: %v", err)
	}
	if err := sp.Announce(ctx, vip); !errors.Is(err, ErrGone) {
		t.Errorf("announce after stop: %v, want ErrGone", err)
	}

	sp, err = Start(ctx, bin, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	sp.cmd.Process.Kill()
	<-sp.done
	t0 := time.Now()
	if _, err := sp.Sessions(ctx); !errors.Is(err, ErrGone) || time.Since(t0) > time.Second {
		t.Errorf("sessions of a killed speaker: %v after %v, want ErrGone at once", err, time.Since(t0))
	}
}
