# SPDX-License-Identifier: GPL-2.0-or-later
# access.t: who may use a job's file system, df, and a full one (3 bbd).
# - another unprivileged user (ebbother) cannot read, list, write, create,
#   rename or remove anything of the instance through the mount, even files
#   whose mode bits would let others read them: the root directory is 0700
#   and the job's user's (the kernel refuses, as it would on ext4; posix.t
#   shows what others may do once the owner opens it); statfs works, as on
#   any directory; root can (allow_other is in effect);
# - nor through RPC: ebbctl as ebbother, and libebb call by call (t_auth's
#   "denied" phase against this instance);
# - df on the mount shows the instance's capacity (3 nodes x 64 MiB);
# - filling it gives ENOSPC to the writer (write-behind, ebb-fuse's default:
#   from a later write(2) or from close(2), as on NFS; 4 KiB writes are
#   gathered and sent at close, so close reports it), nothing written
#   before is corrupted, the bytes the full file holds are the bytes
#   written (nothing past the failure is claimed), and removing it frees
#   the space for new writes.
. "$EBB_SRCDIR/tests/fuse/fuse.sh"

fuse_setup 3
I=acc-$$
M=$EBB_TEST_DIR/m0
CAP_MIB=64
fuse_instance "$I" ${CAP_MIB}MiB --stripe-size 64KiB || bail "instance create failed"
fixture_mount "$I" "$M" || bail "mount failed"

# the owner's files, with modes that would let anyone read
as_u sh -c 'cd "$1" && mkdir -m 755 pub && echo secret-data >pub/readable &&
	chmod 644 pub/readable && echo secret >secret && chmod 644 secret &&
	mkdir -m 777 open && chmod 777 open' sh "$M"
as_u sh -c 'head -c 5000000 /dev/urandom >"$1/keep"' sh "$L"
as_u cp "$L/keep" "$M/keep"
h_keep=$(sha "$L/keep")
is "$(ls "$M/pub" 2>&1)" "readable" "root lists the mount (allow_other is in effect)"
is "$(cat "$M/pub/readable" 2>&1)" "secret-data" "root reads a file on it"

# ---- another user, through the mount --------------------------------------------
denied() {  # DESC CMD...: as ebbother, must fail with EACCES/EPERM
	local desc=$1 out st=0
	shift
	out=$(as_other timeout -k 5 60 "$@" 2>&1) || st=$?
	if [ "$st" -eq 0 ]; then
		ok_status 1 "$desc"
		diag "ebbother: $* succeeded: $out"
	else
		like "$out" 'Permission denied|Operation not permitted' "$desc (status $st)"
	fi
}
denied "ebbother: ls of the mount's root is refused" ls "$M"
denied "ebbother: stat of a file is refused" stat "$M/secret"
denied "ebbother: cat of a 0644 file is refused" cat "$M/pub/readable"
denied "ebbother: ls of a 0755 directory is refused" ls "$M/pub"
denied "ebbother: creating a file in a 0777 directory is refused" sh -c 'echo x >"$1"' sh "$M/open/mine"
denied "ebbother: writing to a file is refused" sh -c 'echo x >>"$1"' sh "$M/secret"
denied "ebbother: mkdir is refused" mkdir "$M/open/dir"
denied "ebbother: rm is refused" rm -f "$M/secret"
denied "ebbother: mv is refused" mv "$M/secret" "$M/open/stolen"
denied "ebbother: truncate is refused" truncate -s 0 "$M/keep"
ok "ebbother: df (statfs) of the mount works, as of any 0700 directory" as_other stat -f "$M"
is "$(as_u cat "$M/secret")" "secret" "the owner's file is unchanged"
is "$(sha "$M/keep")" "$h_keep" "the owner's 5 MB file is unchanged"
is "$(as_u ls "$M/open" 2>&1)" "" "nothing was created in the 0777 directory"

# ---- another user, through RPC ----------------------------------------------------
out=$(as_other "$EBB_EBBCTL" -n "$EBB_NODES" -i "$I" ls / 2>&1)
st=$?
is "$st" 1 "ebbctl ls / as ebbother: exit 1"
like "$out" 'ermission denied|denied' "and says permission denied"
out=$(as_other "$EBB_EBBCTL" -n "$EBB_NODES" -i "$I" cat /secret 2>&1)
is "$?" 1 "ebbctl cat /secret as ebbother: exit 1"
not_ok "and its output does not hold the file's bytes" grep -qx secret <<<"$out"
echo evil >"$EBB_TEST_DIR/evil"
chmod 644 "$EBB_TEST_DIR/evil"
out=$(as_other "$EBB_EBBCTL" -n "$EBB_NODES" -i "$I" put "$EBB_TEST_DIR/evil" /evil 2>&1)
is "$?" 1 "ebbctl put as ebbother: exit 1"
is "$(as_u ls "$M" | grep -c evil)" 0 "and nothing named evil appears"
T=$EBB_BUILDDIR/tests/client/t_auth
if [ -x "$T" ]; then
	EBB_INSTANCE=$I as_other "$T" denied >&2
	ok_status $? "libebb as ebbother, call by call (stat, open, create, mkdir, opendir, unlink, rename, truncate, chmod, statfs): EACCES (t_auth denied)"
else
	skip "t_auth not built"
fi

# ---- df -------------------------------------------------------------------------
read -r bsize blocks bfree bavail <<<"$(as_u stat -f -c '%S %b %f %a' "$M")"
is "$((bsize * blocks))" $((3 * CAP_MIB * 1024 * 1024)) "statfs: size = 3 nodes x $CAP_MIB MiB"
df_size=$(as_u df -B1 --output=size "$M" | tail -n 1 | tr -d ' ')
is "$df_size" $((3 * CAP_MIB * 1024 * 1024)) "df -B1 shows that size"
used0=$((bsize * (blocks - bfree)))
ok "df's used space counts the 5 MB file ($used0 bytes used)" test "$used0" -ge 5000000

# ---- ENOSPC ---------------------------------------------------------------------
as_u sh -c 'head -c $((200 * 1024 * 1024)) /dev/urandom >"$1/big"' sh "$L"
st=0
out=$(as_u timeout -k 10 300 dd if="$L/big" of="$M/fill" bs=1M 2>&1) || st=$?
isnt "$st" 0 "dd of 200 MiB into a ${CAP_MIB}x3 MiB instance fails (status $st)"
isnt "$st" 124 "and does not hang"
like "$out" 'No space left on device' "with ENOSPC (from a later write or close): $(grep -i space <<<"$out" | head -n 1)"
fsize=$(as_u stat -c %s "$M/fill")
diag "the full file holds $fsize bytes"
ok "it holds less than the capacity" test "$fsize" -le $((3 * CAP_MIB * 1024 * 1024))
ok "its bytes are the first $fsize bytes written (no corruption)" as_u cmp -n "$fsize" "$L/big" "$M/fill"
is "$(sha "$M/keep")" "$h_keep" "the 5 MB file written before is intact"
is "$(as_u cat "$M/secret")" "secret" "and so is a small one"
# small_writes FILE: 4 KiB write(2)s of $L/big into FILE until one fails
# (at most 32 MiB), then close; prints "BYTES-ACCEPTED WRITE-ERROR CLOSE"
# (errno names, "none"/"ok" when none).
small_writes() {
	as_u timeout -k 10 120 python3 -c '
import errno, os, sys
src = open(sys.argv[1], "rb")
fd = os.open(sys.argv[2], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
n, werr = 0, "none"
while n < (32 << 20):
    b = src.read(4096)
    try:
        os.write(fd, b)
    except OSError as e:
        werr = errno.errorcode[e.errno]
        break
    n += len(b)
try:
    os.close(fd)
    cerr = "ok"
except OSError as e:
    cerr = errno.errorcode[e.errno]
print(n, werr, cerr)' "$L/big" "$1" 2>&1
}
# 4 KiB writes into the full instance: each write(2) is answered once
# gathered, the error comes from a later write or at the latest close(2)
out=$(small_writes "$M/more")
diag "4 KiB writes when full: bytes accepted, write error, close: $out"
read -r macc mwerr mcerr <<<"$out"
is "$mcerr" ENOSPC "4 KiB writes when full: close(2) reports ENOSPC"
like "$mwerr" '^(none|ENOSPC)$' "and a write(2) fails with nothing else (here: $mwerr)"
msize=$(as_u stat -c %s "$M/more")
ok "the file claims no more than was accepted ($msize of ${macc:-?} bytes)" test "$msize" -le "${macc:-0}"
ok "and its $msize bytes are the bytes written" as_u cmp -n "$msize" "$L/big" "$M/more"
# ebb-fuse --sync-writes (the default before write-behind): the write(2)
# that does not fit fails itself, and every byte it accepted is stored
M2=$EBB_TEST_DIR/m2
EBB_FUSE_SYNC_WRITES=1 fixture_mount "$I" "$M2" || bail "mount with --sync-writes failed"
like "$(ps -o args= -p "${_fixture_mnt_pids[-1]}")" '--sync-writes' "a mount with ebb-fuse --sync-writes"
out=$(small_writes "$M2/more2")
diag "--sync-writes, 4 KiB writes when full: $out"
read -r sacc swerr scerr <<<"$out"
is "$swerr" ENOSPC "--sync-writes: the write(2) that does not fit fails with ENOSPC"
is "$(as_u stat -c %s "$M2/more2")" "${sacc:-?}" "and the file holds exactly the $sacc bytes accepted"
ok "which are the bytes written" as_u cmp -n "${sacc:-0}" "$L/big" "$M2/more2"
as_u rm -f "$M2/more2"
fixture_umount "$M2"
ok_status $? "unmount the --sync-writes mount"
ok "rm of the full files" as_u rm "$M/fill" "$M/more"
read -r bsize blocks bfree bavail <<<"$(as_u stat -f -c '%S %b %f %a' "$M")"
used1=$((bsize * (blocks - bfree)))
ok "df: the space is free again ($used1 bytes used, $used0 before the fill + 1 MiB)" \
	test "$used1" -le $((used0 + 1024 * 1024))
ok "60 MiB can be written again" as_u dd if="$L/big" of="$M/again" bs=1M count=60 conv=fsync status=none
ok "and read back intact" as_u cmp -n $((60 * 1024 * 1024)) "$L/big" "$M/again"
# The same with small files (one stripe each: the node that holds the name
# drops the data with it, in the unlink's one round trip): delete to make
# room, then write at once.
as_u rm "$M/again"
n=0
while [ $n -lt 400 ] && as_u dd if="$L/big" of="$M/s$n" bs=1M count=1 skip=$((n % 100)) \
	conv=fsync status=none 2>/dev/null; do n=$((n + 1)); done
ok "1 MiB files fill the instance ($n fit)" test "$n" -gt 100 -a "$n" -lt 400
ok "rm of all of them" as_u sh -c 'rm -f "$1"/s*' sh "$M"
m=0
while [ $m -lt $n ] && as_u dd if="$L/big" of="$M/t$m" bs=1M count=1 skip=$((m % 100)) \
	conv=fsync status=none; do m=$((m + 1)); done
is "$m" "$n" "right after the rm, as many 1 MiB files fit again"
as_u sh -c 'rm -f "$1"/t*' sh "$M"

fuse_teardown "$I" "$M"
done_testing
