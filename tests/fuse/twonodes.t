# SPDX-License-Identifier: GPL-2.0-or-later
# twonodes.t: two mounts of one instance stand for two nodes of a job (m0
# attached through bbd0, m1 through bbd1; 3 bbd; 128 KiB stripes).  What
# close-to-open promises (docs/semantics.md):
# - a file written and closed on one node is read whole on the other, also
#   when the other had read an older version (its cached pages are dropped
#   at open), when it grew and when it shrank;
# - `ls -l` agrees on sizes after close (on entries the reader has looked
#   at before, too), and so does stat once the reader has opened the file
#   (stat alone may show a size up to 1 s old: ebb-fuse's attribute
#   timeout, docs/semantics.md);
# - an O_APPEND writer on one node after a close on the other appends after
#   the other's data (the size is current at open);
# - a directory renamed on one node is listed renamed on the other, its
#   contents reachable under the new name;
# - a name created on one node is found at once by the other, even right
#   after the other looked it up in vain (absent names are not cached);
# - within one node, another process sees written data before close.
# Each expectation is an independent value (SHA-256 of a local copy, a size
# computed here), never what the other mount says.
. "$EBB_SRCDIR/tests/fuse/fuse.sh"

fuse_setup 3
command -v python3 >/dev/null || skip_all "python3 not installed"
I=two-$$
M0=$EBB_TEST_DIR/m0
M1=$EBB_TEST_DIR/m1
fuse_instance "$I" 1GiB --stripe-size 128KiB || bail "instance create failed"
fixture_mount -n 0 "$I" "$M0" || bail "mount m0 failed"
fixture_mount -n 1 "$I" "$M1" || bail "mount m1 failed"

# local originals with known hashes
as_u sh -c 'head -c 3000001 /dev/urandom >"$1/v1"; head -c 3000001 /dev/urandom >"$1/v2";
	head -c 2100000 /dev/urandom >"$1/tail"; head -c 5 /dev/urandom >"$1/tiny"' sh "$L"
as_u sh -c 'cat "$1/v2" "$1/tail" >"$1/v3"; head -c 1000000 "$1/v3" >"$1/v4"' sh "$L"
for v in v1 v2 v3 v4 tiny; do eval "h_$v=$(sha "$L/$v")"; done
size() { as_u stat -c %s "$1" 2>&1; }

# ---- a file written on m0, read on m1 -------------------------------------------
as_u cp "$L/v1" "$M0/f"
is "$(sha "$M1/f")" "$h_v1" "written and closed on m0: read whole on m1 (3 MB, 23 stripes)"
is "$(size "$M1/f")" 3000001 "stat on m1: the size written on m0"
as_u cp "$L/tiny" "$M1/tiny"
is "$(sha "$M0/tiny")" "$h_tiny" "and the other way: 5 bytes written on m1, read on m0"

# m1 has read f (its pages may be cached); m0 replaces the bytes, same size
as_u cp "$L/v2" "$M0/f"
is "$(sha "$M1/f")" "$h_v2" "overwritten on m0 (same size): m1 reads the new bytes, not its cache"
is "$(size "$M1/f")" 3000001 "stat on m1 right after close on m0: the same size"
# m0 appends: the file grows past what m1 knew
as_u sh -c 'cat "$1" >>"$2"' sh "$L/tail" "$M0/f"
is "$(sha "$M1/f")" "$h_v3" "appended on m0: m1 reads all 5.1 MB"
is "$(size "$M1/f")" 5100001 "appended on m0: stat on m1 after m1 opened it gives the new size"
# the same within the kernel's attribute timeout (1 s): m1 has just
# stat'ed the file when m0 appends, and m1's next open still sees it all
# (ebb-fuse expires the kernel's attributes at OPEN when the size moved)
out=$(as_u sh -c 'printf 0123456789 >"$1/grow"; stat -c %s "$2/grow" >/dev/null &&
	printf abcdefghij >>"$1/grow" && cat "$2/grow" && echo " $(stat -c %s "$2/grow")"' sh "$M0" "$M1")
is "$out" "0123456789abcdefghij 20" "appended on m0 right after m1's stat: m1 opens and reads all 20 bytes, stat 20"
# m0 truncates: the file shrinks under m1's cached size
as_u truncate -s 1000000 "$M0/f"
is "$(sha "$M1/f")" "$h_v4" "truncated on m0: m1 reads exactly the first 1,000,000 bytes"
is "$(size "$M1/f")" 1000000 "truncated on m0: stat on m1 after m1 opened it gives the new size"
# ls -l on both nodes agrees, file by file
as_u sh -c 'cd "$1" && for i in 1 2 3 4 5 6; do head -c $((i * 77777)) /dev/zero >"n$i"; done' sh "$M0"
l0=$(as_u ls -l --time-style=+%s "$M0" | awk 'NR > 1 { print $5, $7 }')
l1=$(as_u ls -l --time-style=+%s "$M1" | awk 'NR > 1 { print $5, $7 }')
is "$l1" "$l0" "ls -l on m1 shows the sizes (and names) ls -l shows on m0"
is "$(awk '$2 ~ /^n/ { s += $1 } END { print s }' <<<"$l1")" $((21 * 77777)) \
	"the sizes of the 6 new files add up to what was written"
as_u sh -c 'cd "$1" && for i in 1 2 3 4 5 6; do head -c $((i * 1111)) /dev/zero >>"n$i"; done' sh "$M1"
l0=$(as_u ls -l --time-style=+%s "$M0" | awk 'NR > 1 { print $5, $7 }')
l1=$(as_u ls -l --time-style=+%s "$M1" | awk 'NR > 1 { print $5, $7 }')
is "$l0" "$l1" "after appends on m1: ls -l on m0 (which listed them before) agrees"
is "$(awk '$2 ~ /^n/ { s += $1 } END { print s }' <<<"$l0")" $((21 * 77777 + 21 * 1111)) \
	"the sizes add up to what was written"

# ---- a new name is seen at once (absent names are not cached) -----------------------
not_ok "m1: stat of a name that does not exist yet fails" as_u stat "$M1/late"
as_u sh -c 'echo late >"$1"' sh "$M0/late"
is "$(as_u cat "$M1/late" 2>&1)" late "created on m0 right after m1 looked it up in vain: m1 opens it at once"

# ---- O_APPEND after close on the other node ---------------------------------------
# m1 stats the log first (so it has attributes cached), then m0 appends and
# closes, then m1 opens with O_APPEND: close-to-open means m1 appends after
# m0's line, not over it.
as_u sh -c 'printf "first line from m1\n" >>"$1"' sh "$M1/log"
as_u stat "$M1/log" >/dev/null
as_u sh -c 'printf "second line from m0\n" >>"$1"' sh "$M0/log"
as_u sh -c 'printf "third line from m1\n" >>"$1"' sh "$M1/log"
is "$(as_u cat "$M0/log")" "first line from m1
second line from m0
third line from m1" "O_APPEND on m1 after a close on m0: all three lines, in order"

# ---- a directory renamed on one node ----------------------------------------------
as_u sh -c 'mkdir -p "$1/a/b/c" && cp "$2" "$1/a/b/c/data" && echo x >"$1/a/top"' sh "$M0" "$L/v1"
is "$(as_u ls "$M1/a/b/c" 2>&1)" "data" "m1 lists a/b/c (and caches it)"
ok "mv a z on m0" as_u mv "$M0/a" "$M0/z"
is "$(as_u ls "$M1" | grep -Ex 'a|z' | tr '\n' ' ')" "z " "ls on m1: the parent lists z, not a"
is "$(sha "$M1/z/b/c/data")" "$h_v1" "m1 reads z/b/c/data, the whole file"
is "$(as_u cat "$M1/z/top" 2>&1)" "x" "and z/top"
as_u mv "$M1/z/b" "$M1/b2"
is "$(as_u ls "$M0/z" 2>&1)" "top" "a subdirectory moved out on m1: m0 lists z without it"
is "$(sha "$M0/b2/c/data")" "$h_v1" "m0 reads it under its new name"
# a rename over an existing file on m1, read on m0
as_u cp "$L/v2" "$M1/new"
as_u mv "$M1/new" "$M0/b2/c/data"
is "$(sha "$M1/b2/c/data")" "$h_v2" "a file renamed over another: m1 reads the new one"
is "$(sha "$M0/b2/c/data")" "$h_v2" "and so does m0"
is "$(as_u ls "$M0" | grep -cx new)" 0 "the old name is gone from m0's listing"

# ---- within one node: no close needed ---------------------------------------------
out=$(as_u timeout -k 5 60 python3 - "$M0/live" <<'PY' 2>&1
import os, sys
p = sys.argv[1]
data = os.urandom(700000)
w = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
os.write(w, data)                      # no fsync, no close
r = os.open(p, os.O_RDONLY)            # another open file description
got = b""
while True:
    b = os.read(r, 1 << 20)
    if not b:
        break
    got += b
print("same" if got == data else "differs: %d bytes read" % len(got))
print(os.fstat(r).st_size)
os.close(r); os.close(w)
PY
)
is "$out" "same
700000" "on one node, data written and not closed is read whole through another open"

fuse_teardown "$I" "$M1" "$M0"
done_testing
