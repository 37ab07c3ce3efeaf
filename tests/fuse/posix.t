# SPDX-License-Identifier: GPL-2.0-or-later
# posix.t: special files, POSIX permissions for every local user and
# directory times, compared with a local ext4 directory (the reference,
# under the test directory in /tmp): the same probes (posix.py) run on both
# trees by the same user, and their outputs must be equal.  Users: ebbtest
# (the instance's owner), ebbother and ebbthird (other users of the node,
# both in the group ebbgrp) and root.  Two mounts stand for two nodes (m0
# through bbd0, m1 through bbd1; 3 bbd).  docs/semantics.md links its rows
# to the check descriptions here.
. "$EBB_SRCDIR/tests/fuse/fuse.sh"

fuse_setup 3
command -v python3 >/dev/null || skip_all "python3 not installed"
I=posix-$$
M0=$EBB_TEST_DIR/m0
M1=$EBB_TEST_DIR/m1
P=$EBB_SRCDIR/tests/fuse/posix.py
# the reference: like the mount's root, a 0700 directory of the owner's
R=$EBB_TEST_DIR/ref
mkdir -m 700 "$R" && chown "$U:" "$R"
fuse_instance "$I" 1GiB --stripe-size 64KiB || bail "instance create failed"
# m0's ebb-fuse prints its directory-time counts at exit (checked at the end)
printf '#!/bin/sh\nEBB_FUSE_DT_STATS=1 exec "%s" "$@"\n' "$EBB_FUSE" >"$EBB_TEST_DIR/ebb-fuse-stats"
chmod 755 "$EBB_TEST_DIR/ebb-fuse-stats"
EBB_FUSE=$EBB_TEST_DIR/ebb-fuse-stats fixture_mount -n 0 "$I" "$M0" || bail "mount m0 failed"
fixture_mount -n 1 "$I" "$M1" || bail "mount m1 failed"

# probe USER ARGS...: posix.py as USER (root: the test shell itself)
probe() {
	local u=$1
	shift
	if [ "$u" = root ]; then
		timeout -k 5 120 python3 "$P" "$@" 2>&1
	else
		fixture_as "$u" timeout -k 5 120 python3 "$P" "$@" 2>&1
	fi
}
# same USER DESC PROBE [DIR-RELATIVE ARGS]: the probe on $R/ARG1 and on
# $M0/ARG1 print the same; one check
same() {
	local u=$1 desc=$2 cmd=$3 rel=$4 a b
	shift 4
	a=$(probe "$u" "$cmd" "$R/$rel" "$@")
	b=$(probe "$u" "$cmd" "$M0/$rel" "$@")
	if ! is "$b" "$a" "$desc"; then
		diag "ext4:"
		diag "$a"
	fi
	printf '%s\n' "$b" >>"$EBB_TEST_DIR/probes.out"
}

# ---- special files -------------------------------------------------------------
for t in "$R" "$M0"; do
	as_u mkdir -m 755 "$t/sp"
	mkdir -m 755 "$t/sproot"
done
same "$U" "special files as the owner: mkfifo, bind(2) of a socket, mknod of devices (EPERM), rename, chmod, unlink: as on ext4" special sp
like "$(grep '^mknod chr' "$EBB_TEST_DIR/probes.out")" 'EPERM' "... (mknod of a device by a user: EPERM, from the kernel)"
like "$(grep -c '^mkfifo ok\|^bind ok\|^connect ok\|^through the socket: ping' "$EBB_TEST_DIR/probes.out")" '^4$' \
	"... (mkfifo, bind, connect and a message through the socket worked)"
same root "special files as root: char and block devices too, with their numbers: as on ext4" special sproot
like "$(grep -c '^mknod chr ok\|^mknod blk ok\|crw------- size=0 1,3\|^ *blk brw-.* size=0 7,200' "$EBB_TEST_DIR/probes.out")" '^4$' \
	"... (root made c 1,3 and b 7,200; ls shows them with size 0)"
mknod "$M0/sproot/null" c 1 3
mknod "$R/sproot/null" c 1 3
is "$(probe root opendev "$R/sproot/null")" ok "ext4: root opens a device node (the reference)"
is "$(probe root opendev "$M0/sproot/null")" EACCES "special files: opening a device node on the mount fails with EACCES (nodev)"
like "$(findmnt -rn -M "$M0" -o OPTIONS)" 'nosuid.*nodev|nodev.*nosuid' "the mount is nosuid,nodev"
is "$(stat -c '%F %t,%T' "$M1/sproot/null")" "character special file 1,3" "the other node sees the device and its number"
rm -f "$M0/sproot/null" "$R/sproot/null"
want=$(seq 1 20000 | md5sum)
is "$(as_u timeout -k 5 60 sh -c 'cd "$1" && mkfifo pipe && { seq 1 20000 >pipe & } && md5sum <pipe; wait' sh "$M0/sp")" "$want" \
	"special files: mkfifo, then a writer and a reader through the FIFO in the mount (shell pipeline)"
is "$(as_u stat -c %F "$M1/sp/pipe")" fifo "the other node lists the FIFO"
ok "rm of the FIFO" as_u rm "$M0/sp/pipe"

# cp -a and rsync -a of a tree with a FIFO, a socket and a setgid directory
S=$L/tree
as_u sh -c 'mkdir -p "$1/d/e" && echo a >"$1/d/f" && mkfifo -m 640 "$1/d/fifo" &&
	python3 -c "import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])" "$1/d/e/sock" &&
	mkdir -m 2750 "$1/sg" && echo b >"$1/sg/g" && ln -s f "$1/d/lnk"' sh "$S"
flist() { as_u sh -c 'cd "$1" && find . -printf "%y %m %u %g %p\n"' sh "$1" | LC_ALL=C sort; }
ok "cp -a of the tree into the mount" as_u cp -a "$S" "$M0/cp"
is "$(flist "$M0/cp")" "$(flist "$S")" "cp -a: the same types (FIFO, socket, setgid directory), modes and owners (find -printf '%y %m %u %g %p')"
ok "rsync -a of the tree into the mount" as_u rsync -a "$S/" "$M0/rs/"
is "$(flist "$M1/rs")" "$(flist "$S")" "rsync -a: the same listing, seen from the other node"

# ---- permissions for every local user --------------------------------------------
# the root is 0700, the job's user's: nobody else gets in
is "$(stat -c '%a %U' "$M0")" "700 $U" "permissions: the mount's root is mode 0700, owned by the job's user"
for u in "$OTHER" "$THIRD"; do
	is "$(fixture_as "$u" ls "$M0" 2>&1 | sed 's/.*: //')" "Permission denied" \
		"permissions: $u cannot list the 0700 root (EACCES, the kernel's check)"
done
ok "permissions: the owner opens the root (chmod 0755)" as_u chmod 755 "$M0"
as_u chmod 755 "$R"
for t in "$R" "$M0"; do
	as_u mkdir -m 755 "$t/pm"
	probe "$U" setup "$t/pm"
	chgrp ebbgrp "$t/pm/fgrp" "$t/pm/sgid"
	chmod 2777 "$t/pm/sgid"
done
: >"$EBB_TEST_DIR/probes.out"
for u in "$OTHER" "$THIRD" "$U"; do
	same "$u" "permissions as $u: read/write of 0600..0777 files and a group file, chmod/chown/chgrp/utimes of others' files, utimes(NULL), creates in 0755/0777/sticky/setgid dirs, the sticky rules: as on ext4" perm pm "$u"
done
grep -q '^f640 read=EACCES write=EACCES' "$EBB_TEST_DIR/probes.out" &&
	grep -q '^fgrp read=ok write=ok' "$EBB_TEST_DIR/probes.out" &&
	grep -q '^sticky: unlink victim EPERM' "$EBB_TEST_DIR/probes.out" &&
	grep -q '^chmod f644 EPERM' "$EBB_TEST_DIR/probes.out" &&
	grep -q '^utimes now f644 (not a writer) EACCES' "$EBB_TEST_DIR/probes.out" &&
	grep -q '^utimes now f666 (a writer) ok' "$EBB_TEST_DIR/probes.out"
ok_status $? "... (others: EACCES on 0640, group members read and write the ebbgrp file, EPERM for unlink in a sticky dir and chmod of another's file, utimes(NULL) needs write permission)"
same root "owners: every file belongs to the user who made it, a setgid directory passes its group (and S_ISGID to subdirectories): as on ext4" owners pm
is "$(stat -c '%G %a' "$M1/pm/sgid/d-$THIRD/sub")" "ebbgrp 2755" "owners: the other node sees the inherited group and S_ISGID"
is "$(stat -c '%U:%G' "$M1/pm/pub/p-$OTHER")" "$OTHER:$OTHER" "owners: the other node sees $OTHER's FIFO as $OTHER's"

# ---- times -------------------------------------------------------------------------
for t in "$R" "$M0"; do as_u mkdir -m 755 "$t/tm"; done
same "$U" "times: the parent's mtime and ctime change at create, mkdir, mkfifo, symlink, rename (both parents), unlink, rmdir, not at a write; the inode's ctime at chmod, chown, truncate, utimes, rename; UTIME_NOW and UTIME_OMIT: as on ext4 (stat on the same node right after)" times tm
grep -q '^create mtime=changed ctime=changed' "$EBB_TEST_DIR/probes.out" &&
	grep -q '^rename between dirs: target dir mtime=changed ctime=changed' "$EBB_TEST_DIR/probes.out" &&
	grep -q '^inode ctime after rename to another dir changed' "$EBB_TEST_DIR/probes.out"
ok_status $? "... (the parent's times changed after a create and in both parents of a rename; the moved inode's ctime too)"
# another node sees a directory's new times once the touch has landed and
# its attributes time out (1 s): poll, generous bound
dt() { as_u python3 "$P" dirtimes "$1"; }
as_u mkdir "$M0/tm/seen"
as_u touch "$M0/tm/seen/a"
sleep 0.2
before=$(dt "$M1/tm/seen")
sleep 0.05
as_u touch "$M0/tm/seen/b"
isnt "$(dt "$M0/tm/seen")" "$before" "times: a create changes the directory's times, seen on the same node at once"
for ((i = 0; i < 100; i++)); do
	[ "$(dt "$M1/tm/seen")" != "$before" ] && break
	sleep 0.1
done
isnt "$(dt "$M1/tm/seen")" "$before" "times: ... and on the other node after $((i / 10)).$((i % 10)) s (at most 10 s allowed)"
is "$(dt "$M1/tm/seen")" "$(dt "$M0/tm/seen")" "times: ... the same times on both nodes"
before=$(dt "$M1/tm")
sleep 0.05
as_u rm -r "$M0/tm/seen"
for ((i = 0; i < 100; i++)); do
	[ "$(dt "$M1/tm")" != "$before" ] && break
	sleep 0.1
done
isnt "$(dt "$M1/tm")" "$before" "times: an rmdir on one node changes the parent's times on the other"
# the root's key is (0, ""): its times follow too
before=$(dt "$M1")
sleep 0.05
as_u touch "$M0/rootfile"
for ((i = 0; i < 100; i++)); do
	[ "$(dt "$M1")" != "$before" ] && break
	sleep 0.1
done
isnt "$(dt "$M1")" "$before" "times: a create in the root changes the root's times, seen on the other node"
# an explicit mtime of a directory right after changes in it stays
as_u sh -c 'd=$1/tm/ex && mkdir "$d" && for i in 1 2 3 4 5; do : >"$d/f$i"; done &&
	touch -m -d "2003-04-05 06:07:08 UTC" "$d"' sh "$M0"
sleep 0.5
is "$(as_u stat -c %Y "$M0/tm/ex")" 1049522828 "times: touch -d of a directory right after creates in it: the time set stays"
is "$(as_u stat -c %Y "$M1/tm/ex")" 1049522828 "times: ... also on the other node"

# coalescing: many creates in one directory send a touch per window, not
# one per create
as_u python3 -c 'import os, sys
os.mkdir(sys.argv[1])
for i in range(2000):
    os.close(os.open("%s/f%d" % (sys.argv[1], i), os.O_CREAT | os.O_WRONLY, 0o644))' "$M0/tm/many"

fuse_teardown "$I" "$M1" "$M0"
read -r noted sent <<<"$(sed -n 's/.*directory times: \([0-9]*\) changes, \([0-9]*\) DIR_TOUCH sent.*/\1 \2/p' "$EBB_TEST_DIR/fuse-m0.log")"
diag "m0: ${noted:-?} directory changes noted, ${sent:-?} DIR_TOUCH sent"
ok "times: coalesced: m0 sent ${sent:-?} DIR_TOUCH for ${noted:-?} changes (2,000 creates in one directory among them): fewer than one for 10" \
	test -n "$sent" -a "${sent:-0}" -gt 0 -a $((${sent:-0} * 10)) -lt "${noted:-0}"
done_testing
