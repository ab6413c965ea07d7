package ldirector

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"hbgo/conf"
	"hbgo/ldirector/alert"
	"hbgo/lvs"
)

// pass writes what the checks decided for every dirty service whose
// first results are in, and deletes the services a reload dropped: one
// List, one Diff and one Apply for all of them.
func (l *loop) pass() {
	d := l.d
	now := time.Now()
	if now.Before(l.retryAt) {
		// A failed pass is retried after a pause, not in a tight loop.
		if !l.batchOn {
			l.batchOn = true
			l.batch.Reset(time.Until(l.retryAt))
		}
		return
	}
	var todo []*virtual
	d.mu.Lock()
	for v := range l.dirty {
		if t, waiting := l.settle[v]; waiting {
			if now.Before(t) {
				continue
			}
			delete(l.settle, v)
		}
		todo = append(todo, v)
	}
	d.mu.Unlock()
	if len(todo) == 0 && len(l.removed) == 0 {
		return
	}
	ctx := l.ctx
	have, err := d.opts.Table.List(ctx)
	if err != nil {
		l.failed(fmt.Errorf("read the IPVS table: %w", err))
		return
	}
	d.mu.Lock()
	names := map[lvs.ServiceKey]*virtual{}
	owned := map[lvs.ServiceKey]bool{}
	var want []lvs.Entry
	haveBy := entriesByKey(have)
	for _, v := range todo {
		k := v.svc.ServiceKey
		names[k] = v
		owned[k] = true
		want = append(want, l.want(v, haveBy[k]))
	}
	removedNames := map[lvs.ServiceKey]string{}
	for k, n := range l.removed {
		if _, still := names[k]; !still {
			owned[k] = true
			removedNames[k] = n
		}
	}
	d.mu.Unlock()

	changes := orderedChanges(have, want, func(k lvs.ServiceKey) bool { return owned[k] })
	d.emitDryRun(changes)
	err = lvs.Apply(ctx, d.opts.Table, changes)
	failed := failedChanges(err)

	d.mu.Lock()
	for _, c := range changes {
		if failed[c.Ipvsadm()] {
			continue
		}
		l.logChange(c, names, removedNames, "start")
	}
	for _, v := range todo {
		delete(l.dirty, v)
	}
	clear(l.removed)
	d.stats.passes++
	d.stats.changes += len(changes)
	// Remember what the table holds now, for Status.
	for k := range owned {
		delete(d.table, k)
	}
	for _, e := range want {
		ds := map[netip.AddrPort]lvs.Dest{}
		for _, x := range e.Dests {
			ds[x.Addr] = x.Normal()
		}
		d.table[e.ServiceKey] = ds
	}
	var cmds []*virtual
	for _, v := range todo {
		for _, mb := range v.members {
			mb.fresh, mb.justDown = false, false
		}
		status := "stop"
		if !v.anyUp() {
			status = "start"
		}
		if v.fbCommand != status {
			v.fbCommand = status
			cmds = append(cmds, v)
		}
	}
	d.mu.Unlock()
	if l.starting && len(l.settle) == 0 {
		l.starting = false
		d.alert.SetState(conf.AlertRunning)
	}
	if err != nil {
		// The changes that failed are retried with the next pass.
		for _, v := range todo {
			l.dirty[v] = true
		}
		l.failed(err)
		return
	}
	for _, v := range cmds {
		l.fallbackCommand(v)
	}
}

// failed logs a pass that could not be applied (rate-limited) and
// retries later.
func (l *loop) failed(err error) {
	if ok, n := l.limiter.allow("apply", 10*time.Second); ok {
		if n > 0 {
			l.d.log.Error(fmt.Sprintf("IPVS table update failed: %v (%d more failures not logged)", err, n))
		} else {
			l.d.log.Error(fmt.Sprintf("IPVS table update failed: %v", err))
		}
	}
	l.retryAt = time.Now().Add(retryDelay)
	if !l.batchOn {
		l.batchOn = true
		l.batch.Reset(retryDelay)
	}
}

func entriesByKey(es []lvs.Entry) map[lvs.ServiceKey]lvs.Entry {
	out := make(map[lvs.ServiceKey]lvs.Entry, len(es))
	for _, e := range es {
		out[e.ServiceKey] = e
	}
	return out
}

// want is the entry the checks ask for v, given what the table has. The
// caller holds d.mu.
func (l *loop) want(v *virtual, have lvs.Entry) lvs.Entry {
	e := lvs.Entry{Service: v.svc}
	present := map[netip.AddrPort]bool{}
	for _, x := range have.Dests {
		present[x.Normal().Addr] = true
	}
	quiescent := v.cfg.EffectiveQuiescent()
	readd := l.d.m.cfg.ReaddQuiescent
	up := false
	for _, mb := range v.members {
		switch {
		case mb.up:
			e.Dests = append(e.Dests, mb.dest)
			up = true
		case quiescent && (present[mb.dest.Addr] || mb.fresh || (mb.justDown && readd)):
			q := mb.dest
			q.Weight = 0
			e.Dests = append(e.Dests, q)
		}
	}
	if !up && v.fallback != nil {
		f := *v.fallback
		replaced := false
		for i := range e.Dests {
			if e.Dests[i].Addr == f.Addr {
				e.Dests[i], replaced = f, true
			}
		}
		if !replaced {
			e.Dests = append(e.Dests, f)
		}
	}
	return e
}

// orderedChanges is the Diff from have to want in two steps, so that no
// service is ever left without a live server it could keep: first every
// addition and every raise of a weight (the fallback comes in here),
// then every deletion and every lowering (the last real server leaves
// here).
func orderedChanges(have, want []lvs.Entry, owned func(lvs.ServiceKey) bool) []lvs.Change {
	haveBy := entriesByKey(have)
	mid := make([]lvs.Entry, 0, len(want))
	inWant := map[lvs.ServiceKey]bool{}
	for _, w := range want {
		inWant[w.ServiceKey] = true
		h, ok := haveBy[w.ServiceKey]
		if !ok {
			mid = append(mid, w)
			continue
		}
		old := map[netip.AddrPort]lvs.Dest{}
		for _, x := range h.Dests {
			x = x.Normal()
			old[x.Addr] = x
		}
		m := lvs.Entry{Service: w.Service}
		seen := map[netip.AddrPort]bool{}
		for _, x := range w.Dests {
			x = x.Normal()
			seen[x.Addr] = true
			if o, ok := old[x.Addr]; ok && x.Weight < o.Weight {
				x.Weight = o.Weight
			}
			m.Dests = append(m.Dests, x)
		}
		for _, x := range h.Dests {
			if x = x.Normal(); !seen[x.Addr] {
				m.Dests = append(m.Dests, x)
			}
		}
		mid = append(mid, m)
	}
	for _, h := range have {
		if !inWant[h.ServiceKey] && owned(h.ServiceKey) {
			mid = append(mid, h)
		}
	}
	first := lvs.Diff(have, mid, owned)
	return append(first, lvs.Diff(mid, want, owned)...)
}

// failedChanges collects the changes Apply reports as failed.
func failedChanges(err error) map[string]bool {
	out := map[string]bool{}
	var walk func(error)
	walk = func(err error) {
		if err == nil {
			return
		}
		var ce *lvs.ChangeError
		if errors.As(err, &ce) {
			out[ce.Change.Ipvsadm()] = true
		}
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				walk(e)
			}
		}
	}
	walk(err)
	return out
}

// emitDryRun prints the changes as ipvsadm commands.
func (d *Director) emitDryRun(changes []lvs.Change) {
	if d.opts.DryRun == nil || len(changes) == 0 {
		return
	}
	ts := d.now().Format("2006-01-02 15:04:05.000")
	var b []byte
	for _, c := range changes {
		b = append(b, ts...)
		b = append(b, ' ')
		b = append(b, c.Ipvsadm()...)
		b = append(b, '\n')
	}
	_, _ = d.opts.DryRun.Write(b)
}

// logChange logs one applied change in ldirectord's words. The caller
// holds d.mu.
func (l *loop) logChange(c lvs.Change, names map[lvs.ServiceKey]*virtual, removed map[lvs.ServiceKey]string, tag string) {
	d := l.d
	k := c.Service.ServiceKey
	v := names[k]
	vname := removed[k]
	if v != nil {
		vname = v.name
	}
	if vname == "" {
		vname = serviceName(k)
	}
	kind := "real"
	if v != nil && v.fallback != nil && v.fallback.Addr == c.Dest.Addr {
		kind = "fallback"
		for _, mb := range v.members {
			if mb.dest.Addr == c.Dest.Addr {
				kind = "real"
			}
		}
	}
	a := c.Dest.Addr.String()
	var line string
	switch c.Op {
	case lvs.AddService:
		d.logf("Added virtual server: %s", vname)
		return
	case lvs.EditService:
		d.logf("Changed virtual server: %s", vname)
		return
	case lvs.DelService:
		d.logf("Purged virtual server (%s): %s", tag, vname)
		return
	case lvs.AddDest:
		if c.Dest.Weight == 0 {
			line = fmt.Sprintf("Readd Quiescent %s server: %s (%s) (Weight set to 0)", kind, a, vname)
		} else {
			line = fmt.Sprintf("Added %s server: %s (%s) (Weight set to %d)", kind, a, vname, c.Dest.Weight)
		}
	case lvs.EditDest:
		if c.Dest.Weight == 0 {
			line = fmt.Sprintf("Quiescent %s server: %s (%s) (Weight set to 0)", kind, a, vname)
		} else {
			line = fmt.Sprintf("Restored %s server: %s (%s) (Weight set to %d)", kind, a, vname, c.Dest.Weight)
		}
	case lvs.DelDest:
		line = fmt.Sprintf("Deleted %s server: %s (%s)", kind, a, vname)
	default:
		return
	}
	d.logf("%s", line)
	// Every logged change is an alert, as ld_emailalert_send follows
	// each ldirectord log line (the Alerter drops those of services
	// without emailalert).
	if v != nil {
		d.alert.Notify(alert.Event{Virtual: v.cfg, Real: a, Up: c.Dest.Weight > 0 && c.Op != lvs.DelDest, Detail: line})
	}
}

// serviceName is a service as ldirectord names it in logs.
func serviceName(k lvs.ServiceKey) string {
	if k.Protocol == lvs.FWM {
		return fmt.Sprint(k.FWMark)
	}
	return k.Addr.String()
}

// cleanStop removes the services whose cleanstop is yes, as ldirectord
// does when it stops, and leaves the others as they are.
func (l *loop) cleanStop() {
	d := l.d
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	have, err := d.opts.Table.List(ctx)
	if err != nil {
		d.log.Error(fmt.Sprintf("cleanstop: read the IPVS table: %v", err))
		return
	}
	haveBy := entriesByKey(have)
	d.mu.Lock()
	owned := map[lvs.ServiceKey]bool{}
	names := map[lvs.ServiceKey]*virtual{}
	for _, v := range d.m.virtuals {
		if v.cfg.EffectiveCleanStop() {
			owned[v.svc.ServiceKey] = true
			names[v.svc.ServiceKey] = v
		}
	}
	d.mu.Unlock()
	changes := lvs.Diff(have, nil, func(k lvs.ServiceKey) bool { return owned[k] })
	d.emitDryRun(changes)
	err = lvs.Apply(ctx, d.opts.Table, changes)
	failed := failedChanges(err)
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, c := range changes {
		if failed[c.Ipvsadm()] {
			continue
		}
		k := c.Service.ServiceKey
		v := names[k]
		for _, x := range haveBy[k].Dests {
			d.logf("Purged real server (stop): %s (%s)", x.Addr, v.name)
		}
		d.logf("Purged virtual server (stop): %s", v.name)
		delete(d.table, k)
	}
	if err != nil {
		d.log.Error(fmt.Sprintf("cleanstop: %v", err))
	}
}
