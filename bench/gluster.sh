#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# bench/gluster.sh: the GlusterFS baseline of bench/run-fuse: a distributed
# volume of 4 bricks on this one host, FUSE-mounted, all on 127.0.0.1.
#
#   bench/gluster.sh setup STATE_DIR MOUNTPOINT     # prints "ok HOST VOL"
#   bench/gluster.sh teardown STATE_DIR MOUNTPOINT
#   bench/gluster.sh pids STATE_DIR                 # PIDs of glusterd, bricks, client
#
# Recipe (Debian glusterfs-server 10.3; see /work/shared/peers-lab README,
# "Other quirks"):
#  - the gluster CLI refuses brick hosts spelled localhost, 127.* or 0.*: a
#    host NAME resolving to 127.0.0.1 is needed.  The first such name in
#    /etc/hosts (not localhost*) is used; if there is none, the line
#    "127.0.0.1 ebb-gluster-lo" is added and removed again by teardown (only
#    if setup added it: recorded in STATE_DIR/added-host);
#  - glusterd -N (no daemon) in the background with stdio redirected (an
#    inherited stdout would keep the caller's pipe open), PID recorded;
#  - bricks are directories on the root file system: "force";
#  - the brick and client processes are daemons that glusterd and mount
#    start: their PIDs are found by volume name / mount point right after
#    setup and recorded in STATE_DIR/pids, and teardown kills those PIDs
#    (volume stop may leave a brick process a moment longer).
# Teardown: umount, volume stop + delete, kill the recorded PIDs, glusterd,
# remove the bricks and the hosts line.  Nothing else is touched.
set -euo pipefail

VOL=${EBB_GLUSTER_VOL:-ebbbench}
ADDED_NAME=ebb-gluster-lo

die() { echo "gluster.sh: $*" >&2; exit 1; }

# A host name that resolves to 127.0.0.1 through /etc/hosts.
lo_host() {
	local n
	n=$(awk '$1 ~ /^127\./ { for (i = 2; i <= NF; i++) { if ($i ~ /^#/) break
		if ($i !~ /^localhost/ && $i !~ /^ip6-/) { print $i; exit } } }' /etc/hosts)
	echo "$n"
}

# PIDs of every process of our volume (bricks, client of MOUNTPOINT).
vol_pids() {
	local mnt=$1 p c
	for p in /proc/[0-9]*; do
		c=$(tr '\0' ' ' 2>/dev/null <"$p/cmdline") || continue
		case "$c" in
		*glusterfsd*"--volfile-id $VOL."*|*glusterfsd*"-s "*" $VOL."*) echo "${p#/proc/}" ;;
		*glusterfs\ *"$VOL"*" $mnt ") echo "${p#/proc/}" ;;
		esac
	done
}

gl() { timeout 60 gluster --mode=script "$@"; }

setup() {
	local st=$1 mnt=$2 host ip i bricks=()
	command -v glusterd >/dev/null && command -v mount.glusterfs >/dev/null ||
		die "glusterd/mount.glusterfs not found (apt-get install glusterfs-server glusterfs-client)"
	mkdir -p "$st" "$mnt"
	host=$(lo_host)
	if [ -z "$host" ]; then
		host=$ADDED_NAME
		grep -qw "$ADDED_NAME" /etc/hosts || echo "127.0.0.1 $ADDED_NAME" >>/etc/hosts
		echo "$ADDED_NAME" >"$st/added-host"
	fi
	ip=$(getent ahostsv4 "$host" | awk 'NR == 1 { print $1 }')
	case $ip in 127.*) ;; *) die "$host resolves to '$ip', not loopback: refusing" ;; esac
	echo "$host" >"$st/host"
	if pgrep -x glusterd >/dev/null; then
		if ! [ -f "$st/glusterd.pid" ] || ! kill -0 "$(cat "$st/glusterd.pid")" 2>/dev/null; then
			die "a glusterd that is not ours is running (pid $(pgrep -x glusterd | tr '\n' ' ')): refusing"
		fi
	else
		glusterd -N --log-file="$st/glusterd.log" </dev/null >/dev/null 2>&1 &
		echo $! >"$st/glusterd.pid"
	fi
	for i in $(seq 100); do gl volume list >/dev/null 2>&1 && break; sleep 0.2; done
	gl volume list >/dev/null 2>&1 || die "glusterd does not answer, see $st/glusterd.log"
	if ! gl volume info "$VOL" >/dev/null 2>&1; then
		for i in 1 2 3 4; do
			rm -rf "$st/brick$i"
			mkdir -p "$st/brick$i"
			bricks+=("$host:$st/brick$i")
		done
		gl volume create "$VOL" transport tcp "${bricks[@]}" force >"$st/create.log" 2>&1 ||
			{ cat "$st/create.log" >&2; die "volume create failed"; }
	fi
	gl volume start "$VOL" >"$st/start.log" 2>&1 || grep -q "already started" "$st/start.log" ||
		{ cat "$st/start.log" >&2; die "volume start failed"; }
	gl volume status "$VOL" >"$st/volume-status.txt" 2>&1 || true
	if ! mountpoint -q "$mnt"; then
		mount -t glusterfs -o log-file="$st/fuse-client.log" "$host:/$VOL" "$mnt" ||
			die "mount of $host:/$VOL on $mnt failed, see $st/fuse-client.log"
	fi
	mountpoint -q "$mnt" || die "$mnt is not a mount point after mount"
	vol_pids "$mnt" >"$st/pids"
	echo "ok $host $VOL"
}

teardown() {
	local st=$1 mnt=$2 p i n=
	set +e   # best effort: never stop half-way
	if mountpoint -q "$mnt" 2>/dev/null; then
		umount "$mnt" 2>/dev/null || umount -l "$mnt" || true
	fi
	rmdir "$mnt" 2>/dev/null || true
	if [ -f "$st/glusterd.pid" ] && kill -0 "$(cat "$st/glusterd.pid")" 2>/dev/null; then
		gl volume stop "$VOL" force >/dev/null 2>&1 || true
		gl volume delete "$VOL" >/dev/null 2>&1 || true
	fi
	# the daemons of our volume: recorded at setup, plus any still running now
	{ cat "$st/pids" 2>/dev/null; vol_pids "$mnt"; } | sort -u | while read -r p; do
		[ -n "$p" ] && kill -TERM "$p" 2>/dev/null || true
	done
	if [ -f "$st/glusterd.pid" ]; then
		p=$(cat "$st/glusterd.pid")
		kill -TERM "$p" 2>/dev/null || true
		for i in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$p" 2>/dev/null || true
		rm -f "$st/glusterd.pid"
	fi
	for i in $(seq 30); do
		n=$({ cat "$st/pids" 2>/dev/null; } | while read -r p; do kill -0 "$p" 2>/dev/null && echo "$p"; done; true)
		[ -z "$n" ] && break
		sleep 0.1
	done
	for p in $n; do kill -KILL "$p" 2>/dev/null || true; done
	rm -rf "$st"/brick*
	if [ -f "$st/added-host" ]; then
		sed -i "/^127\.0\.0\.1[[:space:]]\+$(cat "$st/added-host")\$/d" /etc/hosts
		rm -f "$st/added-host"
	fi
	# list (never kill) any gluster process left
	for p in /proc/[0-9]*; do
		[ "${p#/proc/}" = $$ ] && continue
		case $(tr '\0' ' ' 2>/dev/null <"$p/cmdline") in
		*glusterd*|*glusterfs*) echo "gluster.sh: still running: ${p#/proc/} $(tr '\0' ' ' <"$p/cmdline")" >&2 ;;
		esac
	done
	return 0
}

case ${1:-} in
setup) [ $# = 3 ] || die "usage: gluster.sh setup STATE_DIR MOUNTPOINT"; setup "$2" "$3" ;;
teardown) [ $# = 3 ] || die "usage: gluster.sh teardown STATE_DIR MOUNTPOINT"; teardown "$2" "$3" ;;
pids) [ $# = 2 ] || die "usage: gluster.sh pids STATE_DIR"
	{ cat "$2/glusterd.pid" 2>/dev/null; cat "$2/pids" 2>/dev/null; } | tr '\n' ' '; echo ;;
*) die "usage: gluster.sh setup|teardown STATE_DIR MOUNTPOINT | pids STATE_DIR" ;;
esac
