package ldirector

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"runtime/debug"
	"time"

	"hbgo/conf"
	"hbgo/ldirector/check"
	"hbgo/lvs"
)

// job is one check for a worker to run.
type job struct {
	p        *probe
	spec     check.Spec
	timeout  time.Duration
	attempts int
	nego     bool
}

// result is what a worker reports.
type result struct {
	p       *probe
	nego    bool
	err     error
	start   time.Time // monotonic, for scheduling
	end     time.Time // from Options.Now, for status and logs
	latency time.Duration
}

// startWorker starts one worker goroutine; benchmarks replace it to run
// workers inside a network namespace.
var startWorker = func(f func()) { go f() }

// loop is the state of a running Director that only its goroutine
// touches.
type loop struct {
	d       *Director
	ctx     context.Context
	queue   probeHeap
	ready   []job
	jobs    chan job
	results chan result
	workers int

	dirty    map[*virtual]bool
	removed  map[lvs.ServiceKey]string // services of a reload to delete, with their names
	settle   map[*virtual]time.Time    // virtuals waiting for their first results
	batch    *time.Timer
	batchOn  bool
	wake     *time.Timer
	settleT  *time.Timer
	retryAt  time.Time
	cfgStamp cfgStamp
	cmds     chan []string
	limiter  logLimiter
	// starting is true until every service's first table is written:
	// alerts until then are sent in state starting.
	starting bool
}

// Run checks the real servers and programs the table until ctx is done;
// then it removes the services whose cleanstop is yes and leaves the
// others as they are. The first table it writes reflects the first round
// of checks (see docs/ldirector.md, "Start").
func (d *Director) Run(ctx context.Context) error {
	d.mu.Lock()
	if d.running || d.stopped {
		d.mu.Unlock()
		return ErrRunning
	}
	d.running = true
	m := d.m
	d.mu.Unlock()
	defer func() {
		d.mu.Lock()
		d.running, d.stopped = false, true
		d.mu.Unlock()
		close(d.done)
	}()

	have, err := d.opts.Table.List(ctx)
	if err != nil {
		return fmt.Errorf("ldirector: read the IPVS table: %w", err)
	}
	wctx, stopWorkers := context.WithCancel(context.Background())
	defer stopWorkers()
	l := &loop{
		d: d, ctx: ctx,
		jobs:     make(chan job),
		results:  make(chan result, 1024),
		dirty:    map[*virtual]bool{},
		removed:  map[lvs.ServiceKey]string{},
		settle:   map[*virtual]time.Time{},
		cmds:     make(chan []string, 64),
		starting: true,
	}
	go l.runCommands()
	d.mu.Lock()
	l.adopt(m, nil, have)
	d.mu.Unlock()
	l.growWorkers(wctx, m)

	l.wake = time.NewTimer(0)
	l.batch = stoppedTimer()
	l.settleT = stoppedTimer()
	l.armSettle()
	var cfgTick <-chan time.Time
	if m.cfg.File != "" {
		l.cfgStamp = stampOf(m.cfg.File)
		t := time.NewTicker(m.cfg.CheckInterval)
		defer t.Stop()
		cfgTick = t.C
	}

	for {
		var send chan job
		var next job
		if len(l.ready) > 0 {
			send, next = l.jobs, l.ready[0]
		}
		select {
		case <-ctx.Done():
			stopWorkers()
			d.alert.SetState(conf.AlertStopping)
			l.cleanStop()
			close(l.cmds)
			d.alert.Close()
			return nil
		case send <- next:
			l.ready[0] = job{}
			l.ready = l.ready[1:]
		case <-l.wake.C:
			l.dispatch()
		case r := <-l.results:
			l.onResult(r)
			// Take whatever else has arrived, so a burst is one pass.
			for n := 0; n < 4096; n++ {
				select {
				case r := <-l.results:
					l.onResult(r)
					continue
				default:
				}
				break
			}
		case <-l.batch.C:
			l.batchOn = false
			l.pass()
		case <-l.settleT.C:
			l.pass()
			l.armSettle()
		case req := <-d.reload:
			req.done <- l.reload(wctx, req.cfg)
		case <-cfgTick:
			l.watchConfig(wctx)
		}
	}
}

func stoppedTimer() *time.Timer {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return t
}

// adopt makes m the running model: it carries the state of servers and
// probes that old had, schedules new probes at once, and marks every
// service dirty. The caller holds d.mu.
func (l *loop) adopt(m *model, old *model, have []lvs.Entry) {
	d := l.d
	now := time.Now()
	haveBy := map[lvs.ServiceKey]map[netip.AddrPort]lvs.Dest{}
	for _, e := range have {
		ds := map[netip.AddrPort]lvs.Dest{}
		for _, x := range e.Dests {
			x = x.Normal()
			ds[x.Addr] = x
		}
		haveBy[e.ServiceKey] = ds
	}
	type mkey struct {
		k lvs.ServiceKey
		a netip.AddrPort
	}
	oldMembers := map[mkey]*member{}
	oldVirtuals := map[lvs.ServiceKey]*virtual{}
	if old != nil {
		for _, v := range old.virtuals {
			oldVirtuals[v.svc.ServiceKey] = v
			for _, mb := range v.members {
				oldMembers[mkey{v.svc.ServiceKey, mb.dest.Addr}] = mb
			}
		}
		for k, op := range old.probes {
			np, ok := m.probes[k]
			if !ok {
				op.removed = true
				if op.index >= 0 {
					heap.Remove(&l.queue, op.index)
				}
				continue
			}
			op.replaced = np
			np.next, np.inflight, np.first, np.numConn, np.lastOK = op.next, op.inflight, op.first, op.numConn, op.lastOK
			if op.index >= 0 {
				heap.Remove(&l.queue, op.index)
				heap.Push(&l.queue, np)
			}
		}
	}
	for _, v := range m.virtuals {
		k := v.svc.ServiceKey
		if ov := oldVirtuals[k]; ov != nil {
			v.fbCommand = ov.fbCommand
			delete(oldVirtuals, k)
		}
		for _, mb := range v.members {
			if om := oldMembers[mkey{k, mb.dest.Addr}]; om != nil {
				mb.up, mb.failcount, mb.maint = om.up, om.failcount, om.maint
				mb.lastTime, mb.lastLatency, mb.lastErr, mb.checked = om.lastTime, om.lastLatency, om.lastErr, om.checked
				continue
			}
			// A server the table already serves with a weight starts
			// up, as ldirectord's start does; one whose check already
			// runs for another service takes its last result; the
			// others start down.
			if x, ok := haveBy[k][mb.dest.Addr]; ok && x.Weight > 0 {
				mb.up = true
			} else if !mb.probe.first && mb.probe.lastOK {
				mb.up = true
			}
			mb.fresh = true
		}
		l.dirty[v] = true
	}
	for k, ov := range oldVirtuals {
		l.removed[k] = ov.name
	}
	for _, p := range m.probes {
		if p.replaced != nil || p.index >= 0 || p.inflight {
			continue
		}
		if !p.first {
			continue
		}
		p.next = now
		heap.Push(&l.queue, p)
	}
	// Every service waits for the first results of its new probes, for
	// at most one check interval, before it is written.
	window := m.cfg.CheckInterval
	for _, v := range m.virtuals {
		for _, mb := range v.members {
			if mb.probe.first {
				l.settle[v] = now.Add(window)
				break
			}
		}
	}
	d.m = m
	if l.wake != nil {
		l.rearm()
	}
}

// growWorkers starts workers until there are enough for m: every probe
// keeps a worker busy for at most its deadline out of every interval, so
// the pool covers the sum of deadline/interval (every server hung at
// once), with a margin, and never more than one per probe.
func (l *loop) growWorkers(ctx context.Context, m *model) {
	load := 0.0
	for _, p := range m.probes {
		load += math.Min(1, float64(p.deadline())/float64(p.interval))
	}
	want := min(len(m.probes), 8+int(math.Ceil(load*1.25)))
	for ; l.workers < want; l.workers++ {
		startWorker(func() { l.work(ctx) })
	}
	l.d.mu.Lock()
	l.d.stats.workers = l.workers
	l.d.mu.Unlock()
}

// work runs checks until ctx is done.
func (l *loop) work(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case j := <-l.jobs:
			r := runJob(ctx, j, l.d.now)
			select {
			case l.results <- r:
			case <-ctx.Done():
				return
			}
		}
	}
}

func runJob(ctx context.Context, j job, now func() time.Time) (r result) {
	r = result{p: j.p, nego: j.nego, start: time.Now()}
	defer func() {
		if v := recover(); v != nil {
			r.err = fmt.Errorf("check panicked: %v\n%s", v, debug.Stack())
		}
		r.latency = time.Since(r.start)
		r.end = now()
	}()
	for a := 0; a < j.attempts; a++ {
		cctx, cancel := context.WithTimeout(ctx, j.timeout)
		r.err = check.Run(cctx, j.spec)
		cancel()
		if r.err == nil || ctx.Err() != nil {
			break
		}
	}
	return r
}

// dispatch queues every probe that is due.
func (l *loop) dispatch() {
	now := time.Now()
	for len(l.queue) > 0 && !l.queue[0].next.After(now) {
		p := heap.Pop(&l.queue).(*probe)
		l.start(p)
	}
	l.rearm()
}

func (l *loop) rearm() {
	if len(l.queue) == 0 {
		return
	}
	l.wake.Reset(time.Until(l.queue[0].next))
}

// start runs one check of p, or settles it at once for servers in
// maintenance.
func (l *loop) start(p *probe) {
	d := l.d
	allMaint := true
	d.mu.Lock()
	for _, mb := range p.members {
		mb.maint = d.inMaintenance(mb)
		allMaint = allMaint && mb.maint
	}
	d.mu.Unlock()
	if allMaint {
		// ldirectord skips the check of a server in maintenance.
		l.onResult(result{p: p, start: time.Now(), end: d.now(), err: errMaintenance})
		return
	}
	j := job{p: p, spec: p.spec, timeout: p.timeout, attempts: p.attempts}
	if p.nego.Type != "" && p.numConn >= p.connects {
		j.spec, j.timeout, j.nego, j.attempts = p.nego, p.negoTO, true, 1
	}
	p.inflight = true
	l.ready = append(l.ready, j)
}

var errMaintenance = errors.New("Server in maintenance")

// onResult applies one check's result to every server it serves.
func (l *loop) onResult(r result) {
	d := l.d
	p := r.p
	for p.replaced != nil {
		p = p.replaced
	}
	if p.removed {
		return
	}
	p.inflight = false
	// Next check: one interval after this one began, on the probe's
	// phase after the first round.
	next := r.start.Add(p.interval)
	if p.first {
		next = next.Add(p.phase)
	}
	if now := time.Now(); next.Before(now) {
		next = now
	}
	p.next = next
	heap.Push(&l.queue, p)
	if l.queue[0] == p {
		l.rearm()
	}
	if p.nego.Type != "" {
		switch {
		case r.nego && r.err == nil:
			p.numConn = 0
		case !r.nego && r.err == nil:
			p.numConn++
		case !r.nego:
			p.numConn = math.MaxInt32
		}
	}

	d.mu.Lock()
	d.stats.checks++
	wasFirst := p.first
	p.first = false
	p.lastOK = r.err == nil
	for _, mb := range p.members {
		forced := mb.maint
		err := r.err
		if forced {
			err = errMaintenance
		}
		mb.lastTime, mb.lastLatency, mb.checked = r.end, r.latency, true
		if d.opts.OnCheck != nil {
			d.opts.OnCheck(mb.v.svc.ServiceKey, mb.dest.Addr, r.latency, err)
		}
		mb.lastErr = ""
		if err != nil {
			mb.lastErr = err.Error()
		}
		if l.memberResult(mb, err == nil, forced) {
			l.markDirty(mb.v)
		}
		if mb.v.cfg.MonitorFile != "" {
			d.monitor(mb, err, r.end)
		}
	}
	d.mu.Unlock()
	if wasFirst {
		for _, mb := range p.members {
			if _, ok := l.settle[mb.v]; ok && l.settled(mb.v) {
				delete(l.settle, mb.v)
				l.markDirty(mb.v)
			}
		}
	}
}

// settled reports whether every probe of v has reported once.
func (l *loop) settled(v *virtual) bool {
	for _, mb := range v.members {
		if mb.probe.first {
			return false
		}
	}
	return true
}

// memberResult is ldirectord's service_set for one server and one
// result: it reports whether the server went up or down. The caller
// holds d.mu.
func (l *loop) memberResult(mb *member, ok, forced bool) bool {
	d := l.d
	v := mb.v
	if ok {
		if mb.failcount > 0 {
			d.logf("Resetting soft failure count: %s (%s)", mb.name, v.id)
		}
		mb.failcount = 0
		if mb.up {
			return false
		}
		mb.up = true
		return true
	}
	if !mb.up && !forced {
		return false
	}
	mb.failcount++
	if !forced && mb.failcount < v.cfg.EffectiveFailureCount() {
		d.logf("Soft failure real server: %s (%s) failure %d/%d", mb.name, v.id, mb.failcount, v.cfg.EffectiveFailureCount())
		return false
	}
	if !mb.up {
		return false
	}
	mb.up = false
	mb.justDown = true
	return true
}

func (l *loop) markDirty(v *virtual) {
	l.dirty[v] = true
	if _, waiting := l.settle[v]; waiting {
		return
	}
	if !l.batchOn {
		l.batchOn = true
		l.batch.Reset(batchWindow)
	}
}

// armSettle sets the timer for the earliest virtual still waiting for
// its first results.
func (l *loop) armSettle() {
	var first time.Time
	for _, t := range l.settle {
		if first.IsZero() || t.Before(first) {
			first = t
		}
	}
	if !first.IsZero() {
		l.settleT.Reset(time.Until(first))
	}
}

// reload adopts a new configuration.
func (l *loop) reload(wctx context.Context, cfg *conf.LdirectordConfig) error {
	d := l.d
	d.alert.SetState(conf.AlertReloading)
	d.alert.SetConfig(cfg)
	defer d.alert.SetState(conf.AlertRunning)
	m, warns := buildModel(cfg, d.opts.Hostname)
	for _, w := range warns {
		d.log.Warn(w)
	}
	have, err := d.opts.Table.List(l.ctx)
	if err != nil {
		return fmt.Errorf("ldirector: reload: read the IPVS table: %w", err)
	}
	d.mu.Lock()
	old := d.m
	for v := range l.dirty {
		delete(l.dirty, v)
	}
	l.settle = map[*virtual]time.Time{}
	l.adopt(m, old, have)
	d.mu.Unlock()
	l.growWorkers(wctx, m)
	if len(l.removed) > 0 || len(l.settle) < len(m.virtuals) {
		l.pass()
	}
	l.armSettle()
	return nil
}

// probeHeap orders probes by their next check.
type probeHeap []*probe

func (h probeHeap) Len() int           { return len(h) }
func (h probeHeap) Less(i, j int) bool { return h[i].next.Before(h[j].next) }
func (h probeHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *probeHeap) Push(x any) {
	p := x.(*probe)
	p.index = len(*h)
	*h = append(*h, p)
}
func (h *probeHeap) Pop() any {
	old := *h
	p := old[len(old)-1]
	old[len(old)-1] = nil
	p.index = -1
	*h = old[:len(old)-1]
	return p
}

// logLimiter lets one line of a kind through per interval and counts
// the rest.
type logLimiter struct {
	last       map[string]time.Time
	suppressed map[string]int
}

func (ll *logLimiter) allow(kind string, every time.Duration) (bool, int) {
	if ll.last == nil {
		ll.last, ll.suppressed = map[string]time.Time{}, map[string]int{}
	}
	now := time.Now()
	if t, ok := ll.last[kind]; ok && now.Sub(t) < every {
		ll.suppressed[kind]++
		return false, 0
	}
	n := ll.suppressed[kind]
	ll.last[kind], ll.suppressed[kind] = now, 0
	return true, n
}
