package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"hbgo/test/netns"
)

// FetchEvery is how often the client starts a fetch of the VIP's page.
const FetchEvery = 10 * time.Millisecond

// FetchTimeout bounds one fetch.
const FetchTimeout = time.Second

// Fetch is one request of the client: when it was sent and when it
// ended, and either the answer's body (trimmed) or the error.
type Fetch struct {
	Sent, At time.Time
	Body     string
	Err      string
}

// OK says whether the fetch got a page.
func (f Fetch) OK() bool { return f.Err == "" }

// Fetcher is the client: it starts a GET of the VIP's page every
// FetchEvery on a new connection (so each one meets whoever holds the VIP
// then, as a browser's new visitor would), and records every outcome.
type Fetcher struct {
	client *http.Client
	url    string
	stop   chan struct{}
	wg     sync.WaitGroup

	mu      sync.Mutex
	fetches []Fetch // by end time
}

// StartFetcher starts fetching url from host h until Close.
func StartFetcher(h *netns.Host, url string) *Fetcher {
	f := &Fetcher{url: url, stop: make(chan struct{}),
		client: &http.Client{Timeout: FetchTimeout, Transport: &http.Transport{
			DialContext: dialIn(h, FetchTimeout), DisableKeepAlives: true}}}
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		tick := time.NewTicker(FetchEvery)
		defer tick.Stop()
		for {
			f.wg.Add(1)
			go f.one()
			select {
			case <-f.stop:
				return
			case <-tick.C:
			}
		}
	}()
	return f
}

func (f *Fetcher) one() {
	defer f.wg.Done()
	r := Fetch{Sent: time.Now()}
	ctx, cancel := context.WithTimeout(context.Background(), FetchTimeout)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, f.url, nil)
	resp, err := f.client.Do(req)
	if err == nil {
		var b []byte
		b, err = io.ReadAll(io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		if err == nil && resp.StatusCode != http.StatusOK {
			err = fmt.Errorf("status %d: %s", resp.StatusCode, strings.TrimSpace(string(b)))
		}
		r.Body = strings.TrimSpace(string(b))
	}
	r.At = time.Now()
	if err != nil {
		r.Err = err.Error()
	}
	f.mu.Lock()
	f.fetches = append(f.fetches, r)
	f.mu.Unlock()
}

// Close stops the client and waits for the fetches in flight.
func (f *Fetcher) Close() {
	select {
	case <-f.stop:
	default:
		close(f.stop)
	}
	f.wg.Wait()
}

// Fetches returns the fetches that ended in [from, to], by end time.
func (f *Fetcher) Fetches(from, to time.Time) []Fetch {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []Fetch
	for _, x := range f.fetches {
		if !x.At.Before(from) && !x.At.After(to) {
			out = append(out, x)
		}
	}
	return out
}

// Counts is how many fetches ended, and how many of them failed.
func (f *Fetcher) Counts() (total, failed int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, x := range f.fetches {
		if !x.OK() {
			failed++
		}
	}
	return len(f.fetches), failed
}

// WaitAnswer waits for the first answer after since that match accepts.
func (f *Fetcher) WaitAnswer(since time.Time, bound time.Duration, match func(Fetch) bool) (Fetch, error) {
	deadline := time.Now().Add(bound)
	for {
		for _, x := range f.Fetches(since, time.Now()) {
			if x.OK() && x.Sent.After(since) && match(x) {
				return x, nil
			}
		}
		if time.Now().After(deadline) {
			return Fetch{}, fmt.Errorf("no matching answer within %v after %s (last: %s)", bound, since.Format("15:04:05.000"), f.last())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// WaitSteady waits until every fetch that ended in the last window
// succeeded and matched.
func (f *Fetcher) WaitSteady(window, bound time.Duration, match func(Fetch) bool) error {
	deadline := time.Now().Add(bound)
	for {
		now := time.Now()
		xs := f.Fetches(now.Add(-window), now)
		ok := len(xs) >= int(window/FetchEvery)/2
		for _, x := range xs {
			ok = ok && x.OK() && match(x)
		}
		if ok {
			return nil
		}
		if now.After(deadline) {
			return fmt.Errorf("not steady for %v within %v (last: %s)", window, bound, f.last())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (f *Fetcher) last() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.fetches) == 0 {
		return "none"
	}
	x := f.fetches[len(f.fetches)-1]
	if x.OK() {
		return fmt.Sprintf("%q at %s", x.Body, x.At.Format("15:04:05.000"))
	}
	return fmt.Sprintf("error %q at %s", x.Err, x.At.Format("15:04:05.000"))
}

// Gap is the longest time the client went without a page between the
// last answer before t0 and first, the first answer after t0 that match
// accepts: what a visitor sees of a move that began at t0.
func (f *Fetcher) Gap(t0 time.Time, first Fetch) time.Duration {
	xs := f.Fetches(t0.Add(-2*time.Second), first.At)
	prev := t0
	for _, x := range xs {
		if x.OK() && x.At.Before(t0) {
			prev = x.At
		}
	}
	var gap time.Duration
	for _, x := range xs {
		if !x.OK() || x.At.Before(prev) {
			continue
		}
		gap = max(gap, x.At.Sub(prev))
		prev = x.At
	}
	return gap
}

// Window is a stretch of time.
type Window struct{ From, To time.Time }

func (w Window) String() string {
	return fmt.Sprintf("%s-%s (%v)", w.From.Format("15:04:05.000"), w.To.Format("15:04:05.000"), w.To.Sub(w.From).Round(time.Millisecond))
}

// ErrorWindows are the client's bad stretches in [from, to]: each failed
// fetch spans from its sending to its end, and stretches closer than
// join are one; so are stretches without any answer longer than quiet.
func (f *Fetcher) ErrorWindows(from, to time.Time, join, quiet time.Duration) []Window {
	xs := f.Fetches(from, to)
	var ws []Window
	add := func(w Window) {
		if n := len(ws); n > 0 && !w.From.After(ws[n-1].To.Add(join)) {
			if w.To.After(ws[n-1].To) {
				ws[n-1].To = w.To
			}
			return
		}
		ws = append(ws, w)
	}
	var bad []Window
	prev := from
	for _, x := range xs {
		if !x.OK() {
			bad = append(bad, Window{x.Sent, x.At})
			continue
		}
		if x.At.Sub(prev) > quiet {
			bad = append(bad, Window{prev, x.At})
		}
		prev = x.At
	}
	sortWindows(bad)
	for _, w := range bad {
		add(w)
	}
	return ws
}

func sortWindows(ws []Window) {
	sort.Slice(ws, func(i, j int) bool { return ws[i].From.Before(ws[j].From) })
}

// Via is the director named in a forwarded answer ("rs1 via lvs1"), or
// "" for an answer straight from a real server (IPVS, direct routing).
func Via(x Fetch) string {
	_, d, _ := strings.Cut(x.Body, " via ")
	return d
}

// Real is the real server named in an answer.
func Real(x Fetch) string {
	r, _, _ := strings.Cut(x.Body, " via ")
	return r
}
