# SPDX-License-Identifier: GPL-2.0-or-later
# tools.t: unmodified tools on an ebb mount, run as the instance's owner (an
# unprivileged user), 4 bbd on loopback, 64 KiB stripes (so that most files
# of more than 64 KiB cross nodes):
# - tar -x of a generated source-like tree of >= 10,000 files (gentree.py:
#   varied sizes, modes, symlinks, 40-deep directories, odd and 255-byte
#   names, fixed mtimes), compared with diff -r and a listing of types,
#   modes, owners, mtimes, sizes and link targets;
# - cp -a in and out, rsync -a in and out (and a delta update);
# - git init / add / commit / log / fsck / clone, and the commit ids equal
#   those of the same commits made on local disk;
# - sqlite3: 10,000 rows inserted and queried, integrity_check, in the
#   default (rollback journal) mode and in WAL mode (shared mmap).
# Each tool runs under `timeout`: a hang fails its check, never the suite.
. "$EBB_SRCDIR/tests/fuse/fuse.sh"

fuse_setup 4
for t in tar rsync git sqlite3 diff python3; do
	command -v "$t" >/dev/null || skip_all "$t not installed (scripts/install-deps)"
done
I=tools-$$
M=$EBB_TEST_DIR/m0
NFILES=${EBB_FUSE_TREE_FILES:-10000}

fuse_instance "$I" 2GiB --stripe-size 64KiB || bail "instance create failed"
fixture_mount "$I" "$M" || bail "mount failed"

# ---- tar -x of >= 10 k files --------------------------------------------------
counts=$(as_u python3 "$EBB_SRCDIR/tests/fuse/gentree.py" "$L/orig" "$NFILES") ||
	bail "gentree.py failed"
read -r nf nd nl <<<"$counts"
diag "generated tree: $nf files, $nd directories, $nl symlinks"
ok "the tree has >= $NFILES regular files ($nf)" test "$nf" -ge "$NFILES"
run_u 60 "tar -cf of the tree on local disk" tar -C "$L/orig" -cf "$L/tree.tar" src
run_u 900 "tar -xf of $nf files onto the mount" tar -C "$M" -xf "$L/tree.tar"
same_tree "$L/orig/src" "$M/src" "tar -x"
is "$(as_u find "$M/src" -type f | wc -l)" "$nf" "find counts $nf regular files on the mount"
is "$(as_u tar -C "$M" -cf - src | as_u tar -tvf - | wc -l)" "$(as_u tar -tvf "$L/tree.tar" | wc -l)" \
	"tar -c on the mount lists as many entries as the original archive"

# ---- cp -a and rsync -a, both ways ----------------------------------------------
# (a part of the tree: edge cases + two top directories, ~2000 files)
mkdir -p "$L/part/src" && chown -R "$U:" "$L/part"
run_u 60 "a part of the tree copied locally (edge, d00, d01)" \
	cp -a "$L/orig/src/edge" "$L/orig/src/d00" "$L/orig/src/d01" "$L/part/src/"
run_u 600 "cp -a local -> mount" cp -a "$L/part/src" "$M/cpa"
same_tree "$L/part/src" "$M/cpa" "cp -a in"
run_u 600 "cp -a mount -> local" cp -a "$M/cpa" "$L/cpa.back"
same_tree "$L/part/src" "$L/cpa.back" "cp -a out"

run_u 600 "rsync -a local -> mount" rsync -a "$L/part/src/" "$M/rs/"
same_tree "$L/part/src" "$M/rs" "rsync -a in"
run_u 600 "rsync -a mount -> local" rsync -a "$M/rs/" "$L/rs.back/"
same_tree "$L/part/src" "$L/rs.back" "rsync -a out"
# a delta update: change bytes in the middle of a multi-stripe file, append
# to another, remove a third; rsync's delta algorithm reads the old file on
# the mount and writes a temporary file that it renames over the old one
big=$(as_u find "$L/part/src" -type f -size +200k | LC_ALL=C sort | head -n 1)
small=$(as_u find "$L/part/src/d00" -type f -size -4k -size +0 | LC_ALL=C sort | head -n 1)
gone=$(as_u find "$L/part/src/d01" -type f | LC_ALL=C sort | head -n 1)
# The source directory of the removed file is then given a time of its own
# in the past: rsync compares directory times in whole seconds, so a
# source directory whose new time fell in the second of the deletion on
# the mount would keep the deletion's nanoseconds there, on ext4 too (seen
# in 7 of 20 runs against ext4; directory times follow deletions,
# docs/semantics.md "Times").
as_u sh -c 'printf "CHANGED IN THE MIDDLE" | dd of="$1" bs=1 seek=100000 conv=notrunc status=none &&
	printf "appended\n" >>"$2" && rm -f "$3" &&
	touch -d "2001-02-03 04:05:06.123456789" "$(dirname "$3")"' sh "$big" "$small" "$gone"
run_u 600 "rsync -a --delete --no-whole-file (delta transfer) local -> mount" \
	rsync -a --delete --no-whole-file "$L/part/src/" "$M/rs/"
# rsync sets a directory's mtime before it deletes in it; a second run,
# with nothing to delete, must change nothing.
run_u 600 "rsync -a again: directory times" rsync -a "$L/part/src/" "$M/rs/"
same_tree "$L/part/src" "$M/rs" "after the delta update"
out=$(as_u rsync -a -n -i --checksum --delete "$L/part/src/" "$M/rs/" 2>&1)
is "$out" "" "rsync --checksum --dry-run finds nothing left to transfer"

# ---- git ------------------------------------------------------------------------
# The same commits (fixed dates, author) on local disk and on the mount must
# give the same commit ids: the id hashes every byte, mode and name.
gitrun() {  # DIR: init, commit a part of the tree, change, commit again
	as_u timeout -k 10 300 env GIT_AUTHOR_NAME=ebb GIT_AUTHOR_EMAIL=ebb@example.org \
		GIT_COMMITTER_NAME=ebb GIT_COMMITTER_EMAIL=ebb@example.org \
		GIT_AUTHOR_DATE='2020-01-01T00:00:00Z' GIT_COMMITTER_DATE='2020-01-01T00:00:00Z' \
		GIT_CONFIG_NOSYSTEM=1 sh -ec '
		git init -q -b main "$1"
		cd "$1"
		git config user.name ebb && git config user.email ebb@example.org
		cp -a "$2/edge" "$2/d00" .
		git add -A
		git commit -q -m "first: edge and d00"
		git mv d00 renamed-d00
		rm -rf edge/deep
		echo "a new line" >>"edge/with space"
		git add -A
		git commit -q -m "second: rename, delete, modify"
		git gc -q
		git log --format=%H' sh "$1" "$L/part/src" 2>&1
}
want=$(gitrun "$L/git")
got=$(gitrun "$M/git")
diag "git log on local disk: $(echo $want)"
is "$(wc -l <<<"$got")" 2 "git init/add/commit/mv/gc on the mount: git log shows 2 commits"
is "$got" "$want" "the commit ids equal those made on local disk"
run_u 300 "git fsck --full on the mount" git -C "$M/git" fsck --full --strict --no-progress
is "$(as_u git -C "$M/git" status --porcelain 2>&1)" "" "git status: the work tree is clean"
run_u 300 "git clone from the mount to local disk" git clone -q "$M/git" "$L/git.clone"
is "$(as_u git -C "$L/git.clone" rev-parse HEAD 2>&1)" "$(head -n 1 <<<"$want")" "the clone has the same HEAD"
run_u 300 "git clone from local disk to the mount" git clone -q "$L/git" "$M/git.clone"
is "$(as_u git -C "$M/git.clone" log --format=%H 2>&1)" "$want" "the clone on the mount has the same history"
out=$(as_u diff -r --no-dereference "$L/git.clone" "$M/git.clone" -x .git 2>&1)
ok_status $? "the two checked-out trees are identical (diff -r)" || diag "$out"

# ---- sqlite3 --------------------------------------------------------------------
# 10,000 rows: i, i*i, a text of i; the sums are computed here, not by sqlite
N=10000
want_sum=$((N * (N + 1) / 2))
want_sq=$((N * (N + 1) * (2 * N + 1) / 6))
sqltest() {  # DB JOURNAL_MODE
	local db=$1 jm=$2 out
	as_u rm -f "$db" "$db-journal" "$db-wal" "$db-shm"
	out=$(as_u timeout -k 10 300 sqlite3 -batch -bail "$db" <<SQL 2>&1
PRAGMA journal_mode=$jm;
CREATE TABLE t (i INTEGER PRIMARY KEY, sq INTEGER, s TEXT);
CREATE INDEX t_s ON t (s);
WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < $N / 2)
INSERT INTO t SELECT x, x * x, printf('row-%08d', x) FROM c;
BEGIN;
WITH RECURSIVE c(x) AS (SELECT $N / 2 + 1 UNION ALL SELECT x + 1 FROM c WHERE x < $N)
INSERT INTO t SELECT x, x * x, printf('row-%08d', x) FROM c;
COMMIT;
SELECT count(*), sum(i), sum(sq) FROM t;
SELECT s FROM t WHERE s = 'row-00004242';
UPDATE t SET s = s || '!' WHERE i % 2 = 0;
DELETE FROM t WHERE i > $N - 100;
VACUUM;
PRAGMA integrity_check;
SQL
)
	printf '%s\n' "$out"
}
out=$(sqltest "$M/db.sqlite" delete)
is "$out" "delete
$N|$want_sum|$want_sq
row-00004242
ok" "sqlite3 (rollback journal): 10,000 rows inserted, counted, summed, found by index; integrity ok"
is "$(as_u sqlite3 -batch "$M/db.sqlite" "SELECT count(*), sum(i), count(*) FILTER (WHERE s LIKE '%!') FROM t" 2>&1)" \
	"$((N - 100))|$((want_sum - (N - 99 + N) * 100 / 2))|$(((N - 100) / 2))" \
	"reopened: the UPDATE, DELETE and VACUUM are there"
out=$(sqltest "$M/wal.sqlite" wal)
is "$out" "wal
$N|$want_sum|$want_sq
row-00004242
ok" "sqlite3 (WAL, shared-memory mmap): the same"

fuse_teardown "$I" "$M"
done_testing
