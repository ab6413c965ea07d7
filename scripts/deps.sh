#!/usr/bin/env bash
# Installs, with apt-get, what the tests need when it is missing. Each
# argument is COMMAND:PACKAGE; the package is installed when the command is
# not found. Runs without standard input (CI).
set -euo pipefail
missing=()
for pair in "$@"; do
	cmd=${pair%%:*}
	pkg=${pair#*:}
	if ! command -v "$cmd" >/dev/null 2>&1 && [ ! -x "$cmd" ]; then
		missing+=("$pkg")
	fi
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ]; then
	echo "deps: missing ${missing[*]}; run as root or install them" >&2
	exit 1
fi
echo "deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# The servers the tests start themselves (nginx, MariaDB, PostgreSQL, an
# MTA, ...) must not be started as services by their packages: tell
# invoke-rc.d no while installing, unless a policy is already in place.
if [ ! -e /usr/sbin/policy-rc.d ]; then
	printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
	chmod 755 /usr/sbin/policy-rc.d
	trap 'rm -f /usr/sbin/policy-rc.d' EXIT
fi
if ! apt-get install -y --no-install-recommends "${missing[@]}" </dev/null >/tmp/hbgo-deps.log 2>&1; then
	apt-get update </dev/null >>/tmp/hbgo-deps.log 2>&1
	apt-get install -y --no-install-recommends "${missing[@]}" </dev/null >>/tmp/hbgo-deps.log 2>&1 || {
		tail -20 /tmp/hbgo-deps.log >&2
		exit 1
	}
fi
