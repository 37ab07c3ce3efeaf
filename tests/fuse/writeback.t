# SPDX-License-Identifier: GPL-2.0-or-later
# writeback.t: ebb-fuse with the kernel's writeback cache (--cache
# writeback; docs/semantics.md "The writeback cache").  Two mounts of one
# instance stand for two nodes (m0 through bbd0, m1 through bbd1; 3 bbd).
# The kernel trusts its own size and mtime of a cached file in this mode;
# ebb-fuse renews the kernel's inode (a new generation) when another node
# changed the file and nothing here holds it open.  Checked here:
# - the mount really runs with the writeback cache (ebb-fuse's log);
# - small write(2) calls (dd bs=4k, stdio) land whole, read on the other
#   node after close;
# - a file whose inode the kernel holds (stat'ed, read, listed) and that the
#   other node then grew, rewrote or shrank is read whole at its new size
#   on open, and stat/ls -l show the new size after that open;
# - the departure: a file held open on a node keeps the size that node
#   knows until its last descriptor there is closed, then the new one;
# - a write-only file (mode 0200) can be written (the kernel reads pages
#   it fills partly: ebb-fuse opens it for reading when it may);
# - O_APPEND within a node stays atomic between two processes;
# - a full instance: dd's fsync/close reports ENOSPC (the write(2) calls
#   themselves may all succeed: the pages are written back later).
# twonodes.t runs whole in this mode too: tests/fuse/twonodes-wb.t.
. "$EBB_SRCDIR/tests/fuse/fuse.sh"

fuse_setup 3
command -v python3 >/dev/null || skip_all "python3 not installed"
export EBB_FUSE_CACHE=writeback
I=wb-$$
M0=$EBB_TEST_DIR/m0
M1=$EBB_TEST_DIR/m1
fuse_instance "$I" 1GiB --stripe-size 128KiB || bail "instance create failed"
fixture_mount -n 0 "$I" "$M0" || bail "mount m0 failed"
fixture_mount -n 1 "$I" "$M1" || bail "mount m1 failed"
grep -q "writeback cache is on" "$EBB_TEST_DIR/fuse-m0.log" "$EBB_TEST_DIR/fuse-m1.log"
ok_status $? "ebb-fuse says the kernel's writeback cache is on" ||
	diag_file "$EBB_TEST_DIR/fuse-m0.log"
size() { as_u stat -c %s "$1" 2>&1; }

# ---- small calls ------------------------------------------------------------------
as_u sh -c 'head -c 9000001 /dev/urandom >"$1/small"' sh "$L"
h_small=$(sha "$L/small")
as_u dd if="$L/small" of="$M0/small" bs=4k status=none
ok_status $? "dd bs=4k of 9 MB onto m0"
is "$(sha "$M1/small")" "$h_small" "read on m1 after dd's close: the same bytes"
is "$(size "$M1/small")" 9000001 "stat on m1: the size dd wrote"
out=$(as_u python3 -c '
import sys
with open(sys.argv[1], "w") as f:
    for i in range(200000):
        f.write("line %d\n" % i)
' "$M0/lines" 2>&1)
ok_status $? "python writes 200,000 lines through stdio" || diag "$out"
as_u python3 -c '
for i in range(200000):
    print("line %d" % i)' >"$L/lines"
is "$(sha "$M1/lines")" "$(sha "$L/lines")" "read on m1: every line"

# ---- the kernel's inode renewed after another node's change ---------------------------
as_u sh -c 'head -c 1000000 /dev/urandom >"$1/v1"; head -c 2500000 /dev/urandom >"$1/add"
	cat "$1/v1" "$1/add" >"$1/v2"; head -c 300000 "$1/v2" >"$1/v3"' sh "$L"
as_u cp "$L/v1" "$M0/f"
is "$(sha "$M1/f")" "$(sha "$L/v1")" "m1 reads f (its inode and pages are now cached)"
is "$(size "$M1/f")" 1000000 "m1: stat f"
as_u sh -c 'cat "$1" >>"$2"' sh "$L/add" "$M0/f"
is "$(sha "$M1/f")" "$(sha "$L/v2")" "grown on m0: m1 reads all 3.5 MB at once"
is "$(size "$M1/f")" 3500000 "grown on m0: stat on m1 after it opened f"
as_u truncate -s 300000 "$M0/f"
is "$(sha "$M1/f")" "$(sha "$L/v3")" "shrunk on m0: m1 reads exactly 300,000 bytes"
is "$(size "$M1/f")" 300000 "shrunk on m0: stat on m1 after it opened f"
as_u sh -c 'head -c 300000 /dev/urandom >"$1/v4"' sh "$L"
as_u cp "$L/v4" "$M0/f"
is "$(sha "$M1/f")" "$(sha "$L/v4")" "rewritten on m0 (same size): m1 reads the new bytes"

# ls -l renews what a listing brings: sizes after the other node's close
for i in 1 2 3; do as_u sh -c 'echo x >"$1"' sh "$M1/l$i"; done
as_u ls -l "$M0" >/dev/null
for i in 1 2 3; do as_u sh -c 'head -c $2 /dev/zero >>"$1"' sh "$M1/l$i" $((i * 1000)); done
sleep 1.2 # past the 1 s entry timeout: ls -l looks again
out=$(as_u ls -l "$M0" | awk '$NF ~ /^l[123]$/ { print $NF, $5 }' | tr '\n' ' ')
is "$out" "l1 1002 l2 2002 l3 3002 " "ls -l on m0 after appends on m1: the new sizes"

# ---- departure: held open here, the size this node knows --------------------------------
as_u sh -c 'head -c 100000 /dev/urandom >"$1/h1"; head -c 50000 /dev/urandom >"$1/h2"
	cat "$1/h1" "$1/h2" >"$1/h12"' sh "$L"
as_u cp "$L/h1" "$M0/held"
out=$(as_u python3 - "$M1/held" "$M0/held" "$L/h2" <<'PY' 2>&1
import os, sys, time
held, writer, add = sys.argv[1:]
fd = os.open(held, os.O_RDONLY)
os.read(fd, 10)
with open(add, "rb") as a, open(writer, "ab") as w:
    w.write(a.read())
time.sleep(1.2)  # past the attribute timeout: only the open holds it back
with open(held, "rb") as f:
    during = len(f.read())
os.close(fd)
with open(held, "rb") as f:
    after = len(f.read())
print(during, after)
PY
)
is "$out" "100000 150000" "a file held open on m1 keeps its size there until closed; then the new size"
is "$(sha "$M1/held")" "$(sha "$L/h12")" "and then every byte"

# ---- write-only file, O_APPEND ----------------------------------------------------------
out=$(as_u python3 - "$M0/wo" <<'PY' 2>&1
import os, sys
p = sys.argv[1]
fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o200)
os.write(fd, b"a" * 5000)
os.close(fd)
fd = os.open(p, os.O_WRONLY)
os.pwrite(fd, b"b" * 10, 4090)   # part of a page the kernel must read
os.close(fd)
os.chmod(p, 0o600)
d = open(p, "rb").read()
print("ok" if d == b"a" * 4090 + b"b" * 10 + b"a" * 900 else "differs")
PY
)
is "$out" "ok" "a write-only (0200) file: a partial-page write over old data lands exactly"

out=$(as_u timeout -k 5 120 python3 - "$M0/app" <<'PY' 2>&1
import os, sys
p = sys.argv[1]
pids = []
for w in range(2):
    pid = os.fork()
    if pid == 0:
        fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        for i in range(2000):
            os.write(fd, b"%d %06d ......................\n" % (w, i))
        os.close(fd)
        os._exit(0)
    pids.append(pid)
for pid in pids:
    os.waitpid(pid, 0)
lines = open(p, "rb").read().split(b"\n")[:-1]
good = all(len(l) == 31 for l in lines)
print(len(lines), "whole" if good else "torn")
PY
)
is "$out" "4000 whole" "O_APPEND: two processes on m0, 2000 records each, none lost or torn"

# ---- ENOSPC: reported at fsync/close, never lost silently ---------------------------
J=wbfull-$$
M2=$EBB_TEST_DIR/m2
fuse_instance "$J" 32MiB --stripe-size 64KiB || bail "small instance create failed"
fixture_mount -n 2 "$J" "$M2" || bail "mount m2 failed"
as_u sh -c 'head -c $((100 * 1024 * 1024)) /dev/zero >"$1/zeros"' sh "$L"
st=0
out=$(as_u timeout -k 10 300 dd if="$L/zeros" of="$M2/fill" bs=4k conv=fsync 2>&1) || st=$?
isnt "$st" 0 "dd bs=4k conv=fsync of 100 MiB into a 3 x 32 MiB instance fails (status $st)"
like "$out" 'No space left on device' "with ENOSPC (from write, fsync or close): $(grep -i space <<<"$out" | head -n 1)"
fixture_umount "$M2"
ok_status $? "unmount m2"
out=$(fixture_ebbctl instance destroy "$J" 2>&1)
ok_status $? "small instance destroy" || diag "$out"

fuse_teardown "$I" "$M1" "$M0"
done_testing
