# Sourced by scripts/install-deps.sh and scripts/install-criu.sh.
#
# check_build_inputs PREFIX: the files and commands CRIU's build (and
# stasis's cgo build) read directly, each with the Debian package that ships
# it, so a half-installed machine fails with a package name rather than deep
# in make. A package that is installed but has lost the file is named for
# `apt-get install --reinstall`. Returns 1 after naming every one missing.

build_inputs=(
	/usr/include/google/protobuf/descriptor.proto:libprotobuf-dev
	/usr/include/protobuf-c/protobuf-c.h:libprotobuf-c-dev
	/usr/include/libnl3/netlink/netlink.h:libnl-3-dev
	/usr/include/libnet.h:libnet1-dev
	/usr/include/sys/capability.h:libcap-dev
	/usr/include/seccomp.h:libseccomp-dev
	/usr/include/nftables/libnftables.h:libnftables-dev
	/usr/include/bsd/string.h:libbsd-dev
	/usr/include/gnutls/gnutls.h:libgnutls28-dev
	/usr/include/uuid/uuid.h:uuid-dev
)
build_commands=(
	gcc:gcc make:make pkg-config:pkg-config protoc-c:protobuf-c-compiler
	protoc:protobuf-compiler patch:patch xz:xz-utils python3:python3
)

check_build_inputs() {
	local prefix=$1 entry what pkg missing=0 st how
	for entry in "${build_inputs[@]}" "${build_commands[@]}"; do
		what=${entry%%:*} pkg=${entry##*:}
		if [[ $what == /* ]]; then
			[ ! -e "$what" ] || continue
		else
			! command -v "$what" >/dev/null 2>&1 || continue
			what="command $what"
		fi
		st=$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)
		if [ "$st" = installed ]; then
			how="the Debian package $pkg is installed but lacks it: apt-get install --reinstall $pkg"
		else
			how="install the Debian package $pkg (scripts/install-deps.sh, or apt-get install $pkg)"
		fi
		echo "$prefix: $what is missing: $how" >&2
		missing=1
	done
	return "$missing"
}
