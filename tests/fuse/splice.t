# SPDX-License-Identifier: GPL-2.0-or-later
# splice.t: with --splice, ebb-fuse answers READs from the object files of
# the bbd on its node by splice (ebb_pread_fd, a piece per stripe), and
# falls back to a copy wherever a piece cannot be spliced.  3 bbd on this
# host (so every member is local), 256 KiB stripes, two mounts: m0 splices
# (EBB_FUSE_SPLICE=1, --splice), m1 copies (the default).  Checked:
# - files read through both mounts after the page cache is dropped are
#   byte for byte the originals: whole stripes, a READ over several
#   stripes, a file that ends inside a stripe, a hole of whole stripes (no
#   object there: copied), a file grown by truncate past its objects (zeros
#   the objects do not hold: copied), data written on the other mount;
# - m0's ebb-fuse does call splice(2) while reading, m1's never does
#   (strace of the daemons).
. "$EBB_SRCDIR/tests/fuse/fuse.sh"

fuse_setup 3
command -v strace >/dev/null || skip_all "strace not installed (scripts/install-deps)"
command -v python3 >/dev/null || skip_all "python3 not installed"
I=splice-$$
M0=$EBB_TEST_DIR/m0
M1=$EBB_TEST_DIR/m1
fuse_instance "$I" 1GiB --stripe-size 256KiB || bail "instance create failed"
EBB_FUSE_SPLICE=1 fixture_mount -n 0 "$I" "$M0" || bail "mount m0 failed"
fixture_mount -n 1 "$I" "$M1" || bail "mount m1 failed"
pid0=${_fixture_mnt_pids[0]}
pid1=${_fixture_mnt_pids[1]}

# The originals, on local disk; then the same files on the mount.
as_u python3 - "$L" <<'PY'
import os, sys
d = sys.argv[1]
r = lambda n: os.urandom(n)
open(d + "/big", "wb").write(r(5 * 1024 * 1024))          # whole stripes
open(d + "/odd", "wb").write(r(3 * 262144 + 12345))       # ends in a stripe
with open(d + "/holes", "wb") as f:                       # stripes 2-5 a hole
    f.write(r(2 * 262144)); f.seek(6 * 262144); f.write(r(300000))
with open(d + "/grown", "wb") as f:                       # truncated up
    f.write(r(400000)); f.truncate(2 * 1024 * 1024)
PY
for f in big odd holes grown; do eval "h_$f=$(sha "$L/$f")"; done
as_u cp "$L/big" "$L/odd" "$M0/"
as_u cp --sparse=always "$L/holes" "$M0/holes"
as_u sh -c 'head -c 400000 "$1" >"$2" && truncate -s 2097152 "$2"' sh "$L/grown" "$M0/grown"
# written through m1 (the other mount's client), read on both
as_u cp "$L/odd" "$M1/odd1"
h_odd1=$h_odd

# Trace both daemons' splice calls while everything is read, through both
# mounts, with the page cache dropped first (so the kernel asks ebb-fuse).
strace -f -qq -e trace=splice -o "$EBB_TEST_DIR/st0" -p "$pid0" &
st0=$!
strace -f -qq -e trace=splice -o "$EBB_TEST_DIR/st1" -p "$pid1" &
st1=$!
_fixture_track "$st0" "strace of m0's ebb-fuse"
_fixture_track "$st1" "strace of m1's ebb-fuse"
sleep 1 # strace attaches to every thread
sync
echo 3 >/proc/sys/vm/drop_caches
for m in m0 m1; do
	for f in big odd holes grown odd1; do
		eval "want=\$h_$f"
		is "$(sha "$EBB_TEST_DIR/$m/$f")" "$want" "$m: $f reads back whole"
	done
	# READs of 1 MiB over 4 stripes, and of 64 KiB inside one
	is "$(as_u dd if="$EBB_TEST_DIR/$m/big" bs=1M skip=2 count=2 status=none | sha256sum | cut -d' ' -f1)" \
		"$(dd if="$L/big" bs=1M skip=2 count=2 status=none | sha256sum | cut -d' ' -f1)" \
		"$m: 2 MiB from 2 MiB in (1 MiB reads)"
	is "$(as_u dd if="$EBB_TEST_DIR/$m/odd" bs=64k skip=11 count=2 status=none | sha256sum | cut -d' ' -f1)" \
		"$(dd if="$L/odd" bs=64k skip=11 count=2 status=none | sha256sum | cut -d' ' -f1)" \
		"$m: 64 KiB reads across the end of a stripe"
done
kill "$st0" "$st1" 2>/dev/null
wait "$st0" "$st1" 2>/dev/null
n0=$(grep -c 'splice(' "$EBB_TEST_DIR/st0" 2>/dev/null)
n1=$(grep -c 'splice(' "$EBB_TEST_DIR/st1" 2>/dev/null)
ok "m0's ebb-fuse splices READ replies ($n0 splice calls)" [ "${n0:-0}" -gt 0 ]
is "${n1:-0}" 0 "m1's ebb-fuse (the default: copies) never splices"

fuse_teardown "$I" "$M0" "$M1"
done_testing
