# SPDX-License-Identifier: GPL-2.0-or-later
# mount.t: the same tools through the mounts bbd makes itself
# (`ebbctl instance create --mount`; 4 bbd, each with its own mount root
# $EBB_TEST_DIR/mnt/nodeK, from --mount-root .../%n), as the job's user:
# - tar -x of a 2000-file tree through node 0's mount, diff -r through
#   node 2's; git commit through node 1's, git log and fsck through node
#   3's; sqlite3 through node 3's, queried through node 0's;
# - df on every node's mount shows the instance's capacity; ebbother is
#   refused on every node's mount;
# - bbd3 killed (-9) during I/O through node 0's and node 3's mounts: the
#   tools fail with EIO, nothing stays in D state; destroy unmounts the
#   live nodes' mounts; the restarted bbd3 destroys its part too; no
#   mount and no instance is left.
# (tests/bbd/mount.t tests the lifecycle itself: states, restarts, a
# killed ebb-fuse, a busy unmount.)
. "$EBB_SRCDIR/tests/fuse/fuse.sh"

fixture_init
fixture_require_root "to mount"
fixture_attached && skip_all "kills daemons and looks at their mounts: not with EBB_NODES set"
fixture_fuse_check
fixture_user "$U" || bail "no user $U"
fixture_user "$OTHER" || bail "no user $OTHER"
"$EBB_BBD" --help 2>&1 | grep -q -- --mount-root || skip_all "bbd has no --mount-root"
MR=$EBB_TEST_DIR/mnt
fixture_munged || bail "no munged"
fixture_bbd 4 --mount-root "$MR/%n" --fuse-helper "$EBB_FUSE" --mount-timeout 20000 ||
	bail "bbd did not start"
export EBB_NODES EBB_MUNGE_SOCKET
L=$EBB_TEST_DIR/local
mkdir -p "$L" && chown "$U:" "$L"
I=mnt-$$
CAP_MIB=256
m() { echo "$MR/node$1/$I"; }

out=$(fixture_ebbctl instance create "$I" --capacity ${CAP_MIB}MiB --stripe-size 64KiB \
	--owner "$U" --mount 2>&1)
ok_status $? "instance create --mount (owner $U)" || { diag "$out"; bail "no instance"; }
n=0
for k in 0 1 2 3; do
	fixture_mounted "$(m $k)" && [ "$(stat -c %U "$(m $k)")" = "$U" ] && n=$((n + 1))
done
is "$n" 4 "every node has a FUSE mount at <mount_root>/$I owned by $U"

# ---- tools, each node a different mount --------------------------------------------
counts=$(as_u python3 "$EBB_SRCDIR/tests/fuse/gentree.py" "$L/orig" 2000) || bail "gentree.py failed"
diag "tree: $counts (files, directories, symlinks)"
run_u 60 "tar -cf of a 2000-file tree on local disk" tar -C "$L/orig" -cf "$L/tree.tar" src
run_u 600 "tar -xf through node 0's mount" tar -C "$(m 0)" -xf "$L/tree.tar"
same_tree "$L/orig/src" "$(m 2)/src" "read through node 2's mount"
run_u 300 "git init/add/commit through node 1's mount" sh -ec '
	git init -q -b main "$1/repo"; cd "$1/repo"
	git config user.name ebb; git config user.email ebb@example.org
	cp -a "$2/edge" .; git add -A; git commit -q -m one
	echo change >>"edge/with space"; git commit -q -a -m two' sh "$(m 1)" "$L/orig/src"
is "$(as_u git -C "$(m 3)/repo" log --format=%s 2>&1 | tr '\n' ' ')" "two one " \
	"git log through node 3's mount: both commits"
run_u 300 "git fsck --full through node 3's mount" git -C "$(m 3)/repo" fsck --full --no-progress
out=$(as_u timeout -k 10 300 sqlite3 -batch -bail "$(m 3)/db" "CREATE TABLE t (i INTEGER PRIMARY KEY);
	WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 10000)
	INSERT INTO t SELECT x FROM c;" 2>&1)
ok_status $? "sqlite3: 10,000 rows through node 3's mount" || diag "$out"
is "$(as_u sqlite3 -batch "$(m 0)/db" 'SELECT count(*), sum(i) FROM t; PRAGMA integrity_check;' 2>&1 | tr '\n' ' ')" \
	"10000|50005000 ok " "queried through node 0's mount: count, sum, integrity"

# ---- df and another user ---------------------------------------------------------------
n=0
for k in 0 1 2 3; do
	s=$(as_u stat -f -c '%S %b' "$(m $k)" | awk '{ printf "%d", $1 * $2 }')
	[ "$s" = $((4 * CAP_MIB * 1024 * 1024)) ] && n=$((n + 1)) || diag "node$k: statfs size $s"
done
is "$n" 4 "df on every node's mount: 4 x $CAP_MIB MiB"
n=0
for k in 0 1 2 3; do
	as_other timeout -k 5 60 ls "$(m $k)" >/dev/null 2>&1 || n=$((n + 1))
	as_other timeout -k 5 60 cat "$(m $k)/src/edge/with space" >/dev/null 2>&1 || n=$((n + 1))
done
is "$n" 8 "$OTHER can neither list nor read through any node's mount"

# ---- kill bbd3 during I/O -------------------------------------------------------------
as_u sh -c 'head -c $((16 << 20)) /dev/urandom >"$1/big"' sh "$L"
as_u cp "$L/big" "$(m 0)/big"
MS_BOUND=120   # ebb-fuse's round-trip timeout is bbd's default (30 s): 4 of them
_fixture_as_cmd "$U"
for k in 0 3; do
	fixture_spawn "io$k" timeout -k 10 $MS_BOUND "${_fixture_as[@]}" sh -c '
		n=0
		while cat "$1/big" >/dev/null 2>"$2" && dd if=/dev/zero of="$1/w$3" bs=1M count=8 conv=fsync status=none 2>"$2"; do
			n=$((n + 1)); [ $n -ge 100000 ] && exit 1
		done
		tail -n 1 "$2"' sh "$(m $k)" "$L/io$k.err" "$k"
	eval "io$k=$_fixture_last_pid"
done
sleep 1   # (not a bound: the loops start their I/O)
ok "kill -9 bbd3" fixture_bbd_kill 3 KILL
for k in 0 3; do
	eval "pid=\$io$k"
	fixture_wait_pid "$pid"
	st=$?
	out=$(cat "$EBB_TEST_DIR/io$k.log")
	if [ "$st" -ne 0 ]; then
		ok_status 1 "node $k's mount: the I/O loop ended with an error, no hang (status $st)"
		diag "$out"
	else
		ok_status 0 "node $k's mount: the I/O loop ended with an error, no hang"
	fi
	like "$out" 'Input/output error|Connection timed out|Transport endpoint' "node $k's mount: $out"
done
ok "no process left in D state" fixture_dstate
out=$(timeout -k 10 300 "$EBB_EBBCTL" -n "$(IFS=,; echo "${EBB_NODE_LIST[*]:0:3}")" \
	instance destroy "$I" 2>&1)
diag "instance destroy with bbd3 dead, asked of nodes 0-2: status $? ($out)"
n=0
for k in 0 1 2; do fixture_mounted "$(m $k)" || n=$((n + 1)); done
is "$n" 3 "the live nodes' mounts are gone after destroy"
ok "restart bbd3" fixture_bbd_restart 3
# bbd3 still holds the instance (it was down at destroy): destroy it there
out=$("$EBB_EBBCTL" -n "${EBB_NODE_LIST[3]}" instance destroy "$I" --members "${EBB_NODE_LIST[3]}" 2>&1)
ok_status $? "instance destroy on the restarted bbd3 (--members it)" || diag "$out"
for ((i = 0; i < 200; i++)); do fixture_mounted "$(m 3)" || break; sleep 0.1; done
is "$(findmnt -rn -o TARGET | grep -c "^$MR/")" 0 "no mount left under any mount root"
out=$(fixture_ebbctl --json instance list 2>&1)
is "$(printf '%s' "$out" | python3 -c 'import json,sys; print(sum(1 for x in json.load(sys.stdin) if x["id"] == sys.argv[1]))' "$I" 2>&1)" 0 \
	"no node lists the instance any more"
ok "still no process in D state" fixture_dstate
done_testing
