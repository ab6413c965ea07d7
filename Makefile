# hbgo: `make demo` shows a failover, `make test` runs every test CI runs.

PREFIX  ?= /usr/local
DESTDIR ?=
GO      ?= go
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
BIN     := bin/hbgo
# Names operators type; each is a link to the one binary.
SBIN_LINKS := heartbeat ldirectord
BIN_LINKS  := hb_standby hb_takeover cl_status hb_serialtest
# What the tests need, as command:debian-package (a path is checked as it
# is: iputils' ping by its doc dir, since inetutils-ping also has a ping).
TEST_DEPS := ip:iproute2 unshare:util-linux socat:socat iptables:iptables nft:nftables /usr/share/doc/iputils-ping:iputils-ping qemu-system-x86_64:qemu-system-x86 depmod:kmod xz:xz-utils dpkg-deb:dpkg perl:perl-base ipvsadm:ipvsadm keepalived:keepalived
# Heartbeat 3 itself, for the migration test (its IPaddr agent calls
# ifconfig; net-tools is only recommended).
TEST_DEPS += /usr/libexec/heartbeat/heartbeat:heartbeat ifconfig:net-tools nsenter:util-linux
TEST_DEPS += /usr/lib/frr/bgpd:frr # FRR, the router of test/bgp (zebra, bgpd, vtysh)
# Real servers the health checks and mail tests run against.
TEST_DEPS += nginx:nginx dnsmasq:dnsmasq-base mariadbd:mariadb-server /usr/lib/postgresql/15/bin/postgres:postgresql \
	/usr/lib/dovecot/imap:dovecot-imapd /usr/lib/dovecot/pop3:dovecot-pop3d vsftpd:vsftpd exim4:exim4-daemon-light \
	slapd:slapd freeradius:freeradius
# What the demo needs: namespaces and links (iproute2), the harness's cuts
# (nftables). Its real servers are hbgo's own; IPVS is its in-memory table.
DEMO_DEPS := ip:iproute2 nft:nftables
FUZZTIME ?= 20s

.PHONY: all build test unit fuzz sim demo demo-scale bench install uninstall deps clean vet

all: build

# hbgo-bgp is the BGP speaker of anycast VIPs, a program of its own that
# the daemon starts beside it when ha.cf has bgp_as (so that a daemon
# without BGP does not carry GoBGP's weight).
#
# hbgo itself is built without cgo: static, with Go's own resolver and user
# lookups (files and DNS), and 1.5 MB less resident than linked with libc.
# hbgo-bgp needs cgo (GoBGP asks libc for the free memory).
build:
	CGO_ENABLED=0 $(GO) build -ldflags "-X main.version=$(VERSION)" -o $(BIN) ./cmd/hbgo
	$(GO) build -o $(BIN)-bgp ./cmd/hbgo-bgp

deps:
	@scripts/deps.sh $(TEST_DEPS)

vet:
	$(GO) vet ./...

# Everything CI runs: vet, unit and integration tests (network namespaces,
# pty pairs), and every fuzz target's seed corpus.
test: deps vet build
	$(GO) test -count=1 -timeout 40m ./...

unit:
	$(GO) test -short ./...

# The deterministic cluster simulation for SIM_SCHEDULES random schedules
# (make test runs 10000); HBGO_SIM_SEED=N replays one with its trace.
SIM_SCHEDULES ?= 100000
sim:
	HBGO_SIM_SCHEDULES=$(SIM_SCHEDULES) $(GO) test -count=1 -timeout 0 -v -run 'TestSim' ./crm

# Each fuzz target for a bounded time.
fuzz:
	@set -e; for pkg in $$($(GO) list ./...); do \
	  for t in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
	    echo "fuzz $$pkg $$t"; \
	    $(GO) test -run XXX -fuzz "^$$t$$" -fuzztime $(FUZZTIME) $$pkg; \
	  done; \
	done

demo: build
	@scripts/deps.sh $(DEMO_DEPS)
	$(GO) run ./test/demo

# Anycast: three active directors behind a router (FRR) that spreads
# flows by ECMP, announced by BGP; FRR is installed when missing.
demo-scale: build
	@scripts/deps.sh $(DEMO_DEPS) /usr/lib/frr/bgpd:frr
	$(GO) run ./test/demo scale

bench: deps build
	$(GO) test -run XXX -bench . -benchtime 1x -timeout 60m ./...

install: build
	install -d $(DESTDIR)$(PREFIX)/sbin $(DESTDIR)$(PREFIX)/bin
	install -m 0755 $(BIN) $(DESTDIR)$(PREFIX)/sbin/hbgo
	install -m 0755 $(BIN)-bgp $(DESTDIR)$(PREFIX)/sbin/hbgo-bgp
	for l in $(SBIN_LINKS); do ln -sf hbgo $(DESTDIR)$(PREFIX)/sbin/$$l; done
	for l in $(BIN_LINKS); do ln -sf ../sbin/hbgo $(DESTDIR)$(PREFIX)/bin/$$l; done

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/sbin/hbgo $(DESTDIR)$(PREFIX)/sbin/hbgo-bgp
	for l in $(SBIN_LINKS); do rm -f $(DESTDIR)$(PREFIX)/sbin/$$l; done
	for l in $(BIN_LINKS); do rm -f $(DESTDIR)$(PREFIX)/bin/$$l; done

clean:
	rm -rf bin

# The Debian package, DEB_DIR/hbgo_VERSION_amd64.deb, built with nfpm by
# packaging/ (a module of its own: the packager's dependencies stay out of
# hbgo's). See docs/install.md.
DEB_DIR ?= dist
.PHONY: deb
deb: build
	cd packaging && $(GO) run . -root .. -bin $(abspath $(BIN)) -version $(VERSION) -out $(abspath $(DEB_DIR))

# The end-to-end soak of test/e2e for SOAK (make test runs it 45s): a
# randomized fault schedule under a steady client load.
SOAK ?= 30m
.PHONY: soak
soak: deps build
	HBGO_SOAK=$(SOAK) $(GO) test -count=1 -run '^TestE2ESoak$$' -v -timeout 0 ./test/e2e
