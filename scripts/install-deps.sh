#!/usr/bin/env bash
# Install the Debian packages stasis needs to build, test and build CRIU.
# Idempotent: only missing packages are installed, and `apt-get update` runs
# only when something is missing, so a second run takes well under a second.
set -euo pipefail

pkgs=(
	# build and test
	gcc make pkg-config libseccomp-dev bats busybox-static jq
	iptables iproute2 util-linux procps xz-utils patch git ca-certificates
	# the conformance suites (make conformance): runc-bats.sh needs these too
	gawk file python3
	# make bench compares stasis with runc side by side (never called by stasis)
	runc
	# tests/bats/userns-cr.bats runs the host's PostgreSQL 15 server and psql
	# (/usr/lib/postgresql/15/bin) in a container
	postgresql-15
	# CRIU's build dependencies (scripts/install-criu.sh)
	# libprotobuf-dev ships google/protobuf/descriptor.proto, which CRIU's
	# images/Makefile compiles; --no-install-recommends does not pull it in.
	libprotobuf-c-dev protobuf-c-compiler protobuf-compiler libprotobuf-dev libnl-3-dev
	libnet1-dev libcap-dev libbsd-dev libgnutls28-dev libnftables-dev
	uuid-dev python3-protobuf
)

missing=()
for p in "${pkgs[@]}"; do
	st=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
	[ "$st" = installed ] || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
	echo "install-deps: all ${#pkgs[@]} packages present"
else
	if [ "$(id -u)" -ne 0 ]; then
		echo "install-deps: missing packages (${missing[*]}); run as root" >&2
		exit 1
	fi
	echo "install-deps: installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# Files and commands CRIU's build reads directly, each named with its package.
# shellcheck source=scripts/build-inputs.sh
source "$(dirname "${BASH_SOURCE[0]}")/build-inputs.sh"
check_build_inputs install-deps || exit 1

if ! command -v go >/dev/null 2>&1 && [ ! -x /usr/local/go/bin/go ]; then
	echo "install-deps: Go not found (expected on PATH or at /usr/local/go/bin/go)" >&2
	exit 1
fi
