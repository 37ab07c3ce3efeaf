# SPDX-License-Identifier: GPL-2.0-or-later
# basic.t: ebb-fuse's own smoke test (by the ebb-fuse author): one instance
# on 3 bbd mounted twice (two "nodes"), as the owner: files, directories,
# symlinks, rename, truncate, chmod/utimes, a hard link, what is refused
# (special files, RENAME_EXCHANGE), an xattr, readdir offsets over a large
# directory, df, close-to-open between the two mounts, and exit status 0
# at unmount.  The tools-level tests are tools.t, io.t, twonodes.t...
. "$EBB_SRCDIR/tests/fuse/fuse.sh"

fuse_setup 3
I=basic-$$
M0=$EBB_TEST_DIR/m0
M1=$EBB_TEST_DIR/m1
fuse_instance "$I" 1GiB || bail "cannot create the instance"
fixture_mount "$I" "$M0" || bail "cannot mount $M0"
fixture_mount -n 1 "$I" "$M1" || bail "cannot mount $M1"

# files
ok "write a file" as_u sh -c "echo hello >'$M0/a'"
is "$(as_u cat "$M0/a")" hello "read it back"
head -c 5000000 /dev/urandom >"$L/r" && chown "$U:" "$L/r"
ok "cp 5 MB (5 stripes) in" as_u cp "$L/r" "$M0/r"
is "$(sha "$M0/r")" "$(sha "$L/r")" "same bytes through the same mount"
is "$(sha "$M1/r")" "$(sha "$L/r")" "same bytes through the other mount (close-to-open)"
ok "truncate -s 3" as_u truncate -s 3 "$M0/a"
is "$(as_u cat "$M0/a")" hel "truncated"
ok "chmod 640" as_u chmod 640 "$M0/a"
is "$(stat -c %a "$M0/a")" 640 "mode"
ok "touch -d" as_u touch -d 2020-02-02T02:02:02 "$M0/a"
is "$(stat -c %Y "$M0/a")" "$(date -d 2020-02-02T02:02:02 +%s)" "mtime"
is "$(stat -c %U "$M0/a")" "$U" "owned by the user who made it"

# names
ok "mkdir -p" as_u mkdir -p "$M0/d/e/f"
ok "symlink" as_u ln -s d/e "$M0/l"
is "$(as_u readlink "$M0/l")" d/e "readlink"
ok "through the symlink" as_u sh -c "echo x >'$M0/l/f/g'"
ok "mv a directory" as_u mv "$M0/d" "$M0/d2"
is "$(as_u cat "$M0/d2/e/f/g")" x "its content moved with it"
ok "mv a file over another" as_u mv "$M0/a" "$M0/r"
is "$(as_u cat "$M0/r")" hel "the replaced name shows the moved file"
not_ok "into its own subtree: refused" as_u mv "$M0/d2" "$M0/d2/e/f/x"
not_ok "rmdir of a non-empty directory: refused" as_u rmdir "$M0/d2/e"
ok "rm -r" as_u rm -r "$M0/d2"
ok "gone" test ! -e "$M0/d2"

# a hard link (tests/fuse/hardlinks.t has the rest)
ok "hard link: ln makes a second name" as_u ln "$M0/r" "$M0/hard"
is "$(as_u stat -c %h "$M1/hard")" 2 "hard link: the other mount sees nlink 2"

# what ebb does not have
ok "mkfifo works (posix.t tests special files)" as_u mkfifo "$M0/fifo"
as_u rm -f "$M0/fifo"
if command -v python3 >/dev/null; then
	is "$(as_u python3 -c '
import os, sys, errno
try:
    os.setxattr(sys.argv[1], "user.x", b"1")
    print(os.getxattr(sys.argv[1], "user.x"))
except OSError as e:
    print(errno.errorcode[e.errno])' "$M0/r")" "b'1'" "setxattr and getxattr user.x (xattr.t has the rest)"
	is "$(as_u python3 -c '
import ctypes, os, sys, errno
libc = ctypes.CDLL(None, use_errno=True)
r = libc.renameat2(-100, sys.argv[1].encode(), -100, sys.argv[2].encode(), 2)
print(errno.errorcode[ctypes.get_errno()] if r else "ok")' "$M0/r" "$M0/l")" EINVAL "RENAME_EXCHANGE: EINVAL"
	is "$(as_u python3 -c '
import ctypes, os, sys, errno
libc = ctypes.CDLL(None, use_errno=True)
r = libc.renameat2(-100, sys.argv[1].encode(), -100, sys.argv[2].encode(), 1)
print(errno.errorcode[ctypes.get_errno()] if r else "ok")' "$M0/r" "$M0/l")" EEXIST "RENAME_NOREPLACE onto a name: EEXIST"
else
	skip "python3 not installed" 3
fi

# a directory larger than one readdir buffer, listed from both mounts
ok "1500 files" as_u sh -c "mkdir '$M0/big' && cd '$M0/big' && for i in \$(seq 1500); do : >f\$i; done"
is "$(as_u ls "$M0/big" | wc -l)" 1500 "ls sees 1500 (readdirplus)"
is "$(as_u ls -f "$M1/big" | grep -c '^f')" 1500 "the other mount too, each name once"
is "$(as_u ls -f "$M1/big" | sort | uniq -d | wc -l)" 0 "no duplicates"

# close-to-open both ways, and the size after an append
ok "write on m1" as_u sh -c "echo one >'$M1/c'"
is "$(as_u cat "$M0/c")" one "m0 sees it"
ok "append on m0" as_u sh -c "echo two >>'$M0/c'"
is "$(as_u cat "$M1/c")" "one
two" "m1 sees the append"

# df
out=$(as_u df -B1 --output=size "$M0" | tail -n 1 | tr -d ' ')
is "$out" $((3 * 1024 * 1024 * 1024)) "df: the instance's capacity (3 nodes x 1 GiB)"

# unmount: ebb-fuse exits 0
fixture_umount "$M1"
ok_status $? "unmount of m1: ebb-fuse exits 0"
ok "m0 still works" as_u cat "$M0/c"
fixture_umount "$M0"
ok_status $? "unmount of m0: ebb-fuse exits 0"

done_testing
