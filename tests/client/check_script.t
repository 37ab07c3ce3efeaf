# SPDX-License-Identifier: GPL-2.0-or-later
# check_script.t: `ebbctl check-script` on good and bad batch scripts (no
# daemons): the summary line and exit 0, "SCRIPT: error: line N: ..." and
# exit 1, usage errors and exit 2, --json, the node count from -N and from
# #SBATCH, the prefix from --prefix and from the burst_buffer.conf next to
# $SLURM_CONF, the limits from ebb.conf (--config and $EBB_CONF), --bb,
# the s3_allow check of stage lines (--user, --account), and the warnings
# (#BB after the first command, DOS line breaks, no ebb.conf for stages).
. "$EBB_SRCDIR/tests/tap/tap.sh"

E=${EBB_EBBCTL:-$EBB_BUILDDIR/client-lib/ebbctl}
[ -x "$E" ] || bail "ebbctl not built ($E)"
D=$(mktemp -d "${TMPDIR:-/tmp}/ebb-check.XXXXXX") || bail "mktemp failed"
trap 'rm -rf "$D"' EXIT
cd "$D" || bail "cd $D"

# No site configuration leaks in from the machine running the tests; the
# site's ebb.conf allows what the scripts below stage.
export SLURM_CONF="$D/none/slurm.conf"
ME=$(id -un)
cat >"$D/site.conf" <<'EOF'
s3_allow = * s3://genomics-data/ r
s3_allow = * s3://genomics-results/ w
s3_allow = * s3://bkt/ rw
EOF
export EBB_CONF="$D/site.conf"

# run ARGS...: ebbctl check-script; stdout in $out, stderr in $err, exit
# status in $st.
run() {
	out=$("$E" check-script "$@" 2>"$D/err")
	st=$?
	err=$(cat "$D/err")
	return 0
}

cat >job.sh <<'EOF'
#!/bin/bash
#SBATCH -N 4 --exclusive
#BB capacity=400GiB
#BB stage_in  source=s3://genomics-data/run42/  destination=input/
#BB stage_out source=results/  destination=s3://genomics-results/run42/
srun align --in "$EBB_JOB_DIR/input" --out "$EBB_JOB_DIR/results"
EOF

# ---- good scripts -------------------------------------------------------------
run job.sh
is "$st" 0 "the DESIGN example: exit 0"
is "$out" "job.sh: ok: capacity 400 GiB on 4 node(s) (>= 100 GiB per node), stripe default, 1 stage_in, 1 stage_out" \
	"the summary: capacity, nodes from #SBATCH -N, share per node, stages"
like "$err" 'prefix #BB \(the default\), 4 node\(s\) \(#SBATCH -N\)' \
	"stderr says where the prefix and node count came from"
run -q job.sh
is "$err" "" "-q: nothing on stderr"

run -N 3 job.sh
like "$out" 'on 3 node\(s\) \(>= 133.3 GiB per node\)' "-N overrides #SBATCH -N"

printf '#!/bin/sh\n#SBATCH --nodes=2-8 -t 5\n#BB capacity=1GiB stripe_size=4MiB\nhostname\n' >range.sh
run range.sh
like "$out" 'on 2 node\(s\) .* stripe 4 MiB, 0 stage_in' \
	"--nodes=2-8: the minimum counts; the stripe size is shown"
printf '#BB capacity=1GiB cache=writeback\n' >wb.sh
run wb.sh
like "$out" 'stripe default, writeback cache \(not for a file written from several nodes at once\), 0 stage_in' \
	"cache=writeback is shown, with when not to use it"
printf '#BB capacity=1GiB cache=back\n' >wbbad.sh
run wbbad.sh
is "$st" 1 "cache=back: exit 1"
like "$err" "^wbbad.sh: error: line 1: cache=back is not a cache mode: write cache=writeback" \
	"cache=back: the message"
printf '#!/bin/sh\n#SBATCH -N8\n#SBATCH --nodes 6 # six\n#BB capacity=6GiB\n' >nodes.sh
run nodes.sh
like "$out" 'on 6 node\(s\) \(>= 1 GiB per node\)' \
	"-N8 then --nodes 6: the last one wins, as in sbatch"

out=$(printf '#BB capacity=1TiB\n' | "$E" check-script - 2>/dev/null)
is "$?" 0 "a script on standard input (-)"
like "$out" '^<stdin>: ok: capacity 1 TiB on 1 node\(s\)' \
	"stdin is named <stdin>; no -N anywhere: 1 node"

printf '#!/bin/sh\n#SBATCH -N 2\nhostname\n' >plain.sh
run plain.sh
is "$st" 0 "a script without directives: exit 0"
is "$out" "plain.sh: ok: no #BB directives (the job gets no ebb file system)" \
	"a script without directives: says so"

# ---- bad scripts --------------------------------------------------------------
printf '#!/bin/bash\n#SBATCH -N 2\n#BB capacity=3.5T\n' >bad.sh
run bad.sh
is "$st" 1 "an ambiguous unit: exit 1"
is "$out" "" "an error prints nothing on stdout"
like "$err" "^bad.sh: error: line 3: capacity=3.5T: 'T' is ambiguous: write 3.5TiB .* or 3.5TB" \
	"the error names the script, the line, what is wrong and what is right"

printf '#BB capacity=1GiB\n#BB stage_in source=s3://bkt/x destination=/abs\n' >abs.sh
run abs.sh
like "$err" 'line 2: destination=/abs is an absolute path: write a path relative to \$EBB_JOB_DIR' \
	"an absolute destination"
printf '#BB stage_out source=out destination=s3://bkt/\n' >nocap.sh
run nocap.sh
like "$err" "line 1: stage_out without a capacity: add '#BB capacity=SIZE'" \
	"a stage line without capacity"
printf '#BB capcity=1GiB\n' >typo.sh
run typo.sh
like "$err" "unknown directive 'capcity': did you mean 'capacity'\\?" \
	"a typo gets a suggestion"

# ---- --json -------------------------------------------------------------------
if command -v python3 >/dev/null; then
	json() {
		printf '%s' "$out" | python3 -c '
import json, sys
d = json.load(sys.stdin)
print(eval(sys.argv[1]))' "$1" 2>&1
	}
	run --json job.sh
	is "$st" 0 "--json: exit 0"
	is "$(json 'd["ok"], d["capacity"], d["nodes"], d["per_node"], d["directives"]')" \
		"(True, 429496729600, 4, 107374182400, 3)" "--json: the numbers"
	is "$(json '[(s["direction"], s["destination"], s["line"]) for s in d["stages"]]')" \
		"[('in', 'input/', 4), ('out', 's3://genomics-results/run42/', 5)]" \
		"--json: the stages"
	is "$(json 'd["canonical"].splitlines()[0]')" "#BB capacity=400GiB" \
		"--json: the canonical text"
	is "$(json 'd["cache"]')" "none" "--json: cache none when not given"
	run --json wb.sh
	is "$(json 'd["cache"]')" "writeback" "--json: cache=writeback"
	run --json bad.sh
	is "$st" 1 "--json with an error: exit 1"
	is "$(json 'd["ok"], d["error"].startswith("line 3: capacity=3.5T: ")')" \
		"(False, True)" \
		"--json with an error: ok false and the message"
	like "$err" '^bad.sh: error: line 3' "--json: the error is on stderr too"
else
	skip "python3 is needed to parse --json" 9
fi

# ---- the prefix ---------------------------------------------------------------
mkdir -p slurm
cat >slurm/burst_buffer.conf <<'EOF'
# burst_buffer.conf for burst_buffer/ebb
AllowUsers=alice,bob   # who may
Directive=DW
Flags=DisablePersistent
EOF
printf '#!/bin/sh\n#DW capacity=2GiB\n#BB capacity=bogus\n' >dw.sh
SLURM_CONF="$D/slurm/slurm.conf" run dw.sh
is "$st" 0 "prefix DW from the burst_buffer.conf next to \$SLURM_CONF"
like "$out" 'capacity 2 GiB' "#DW lines are read, #BB lines are comments"
like "$err" "prefix #DW \\($D/slurm/burst_buffer.conf\\)" \
	"stderr names the burst_buffer.conf"
SLURM_CONF="$D/slurm/slurm.conf" run --prefix BB dw.sh
like "$err" "error: line 3: capacity=bogus" "--prefix overrides burst_buffer.conf"
printf 'directive = x\n  DIRECTIVE="DW" # quoted\n' >slurm/burst_buffer.conf
SLURM_CONF="$D/slurm/slurm.conf" run dw.sh
is "$st" 0 "Directive= is case-insensitive, may be quoted, the last wins"
SLURM_CONF="$D/none/slurm.conf" run dw.sh
is "$st" 1 "no burst_buffer.conf: prefix BB, so #BB capacity=bogus is read"
run --prefix "B B" dw.sh
is "$st" 2 "--prefix with a blank: usage error"

# ---- limits -------------------------------------------------------------------
cat >ebb.conf <<'EOF'
# one ebb.conf for the cluster: bbd's keys are ignored here
listen = 0.0.0.0:7070
root = /var/lib/ebb
max_capacity = 1TiB
max_capacity_per_node = 100GiB
min_stripe_size = 1MiB
max_stripe_size = 16MiB
EOF
printf '#BB capacity=2TiB\n' >big.sh
run --config ebb.conf -N 100 big.sh
is "$st" 1 "over max_capacity: exit 1"
like "$err" "capacity=2TiB is more than this site's limit of 1 TiB per job \\(max_capacity\\)" \
	"max_capacity from --config, both values named"
printf '#!/bin/sh\n#SBATCH -N 2\n#BB capacity=400GiB\n' >share.sh
EBB_CONF="$D/ebb.conf" run share.sh
like "$err" "on 2 node\\(s\\) is 200 GiB per node, over the limit of 100 GiB per node.*at least 4 nodes" \
	"max_capacity_per_node from \$EBB_CONF, with the node count to ask for"
EBB_CONF="$D/ebb.conf" run -N 4 share.sh
is "$st" 0 "enough nodes: ok"
like "$err" "limits of $D/ebb.conf" "stderr names the ebb.conf"
printf '#BB capacity=1GiB stripe_size=64KiB\n' >stripe.sh
run --config ebb.conf stripe.sh
like "$err" "below the minimum of 1 MiB" "min_stripe_size from ebb.conf"
printf 'max_capacity = 3T\n' >badconf.conf
run --config badconf.conf job.sh
is "$st" 1 "a bad size in ebb.conf: exit 1"
like "$err" "badconf.conf:1: max_capacity: .*ambiguous" \
	"a bad size in ebb.conf: file, line and reason"
run --config "$D/missing.conf" job.sh
is "$st" 1 "--config of a missing file: exit 1"

# ---- s3_allow -----------------------------------------------------------------
cat >allow.conf <<EOF
# the rules of a site
s3_allow = user:$ME s3://mine/%u/ rw
s3_allow = user:$ME s3://ro-data/ r
s3_allow = group:no-such-group-ebb s3://grp/ rw
s3_allow = account:cfd s3://cfd/ rw
EOF
stage() {	# stage LINE: stage.sh with a capacity and this stage line
	printf '#!/bin/sh\n#BB capacity=1GiB\n#BB %s\n' "$1" >stage.sh
}
stage "stage_in source=s3://mine/$ME/in/ destination=in/"
run --config allow.conf stage.sh
is "$st" 0 "an allowed stage_in: ok"
is "$(printf '%s\n' "$err" | grep -c warning)" 0 "an allowed stage line: no warning"
run --conf allow.conf stage.sh
is "$st" 0 "--conf is --config"
stage "stage_out source=out/ destination=s3://mine/%u/run%j/"
run --config allow.conf stage.sh
is "$st" 0 "a stage_out to %u/run%j under a %u rule: ok"
stage "stage_in source=s3://elsewhere/x destination=x"
run --config allow.conf stage.sh
is "$st" 1 "a stage_in outside the list: exit 1"
like "$err" "^stage.sh: error: line 3: stage_in: s3://elsewhere/x is not allowed for reading: no s3_allow rule in ebb.conf matches user $ME \\(groups: .*; account: none\\); rules for them: line 2 allows s3://mine/$ME/ \\(rw\\), line 3 allows s3://ro-data/ \\(r\\)" \
	"a stage_in outside the list: the user, groups and the rules"
is "$out" "" "a refused stage line: no summary"
stage "stage_out source=out/ destination=s3://ro-data/out/"
run --config allow.conf stage.sh
like "$err" "line 3: stage_out: s3://ro-data/out/ is not allowed for writing: .*line 3 \\(user:$ME s3://ro-data/ r\\), allows reading only" \
	"a stage_out without w names the rule"
stage "stage_in source=s3://cfd/x destination=x"
run --config allow.conf stage.sh
is "$st" 1 "an account rule without --account: refused"
run --config allow.conf --account cfd stage.sh
is "$st" 0 "--account cfd: allowed"
stage "stage_in source=s3://mine/$ME/x destination=x"
run --config allow.conf --user root stage.sh
if [ "$ME" = root ]; then
	is "$st" 0 "--user root (the caller): allowed"
else
	is "$st" 1 "--user root: the caller's rules do not apply"
fi
run --config allow.conf --user no-such-user-ebb stage.sh
is "$st" 1 "--user of an unknown user: exit 1"
like "$err" "error: --user: no user 'no-such-user-ebb'" "--user of an unknown user: why"
stage "stage_in source=s3://mine/$ME/d/ destination=d/ mode=lazy"
run --config allow.conf stage.sh
like "$err" "line 3: stage_in mode=lazy: lazy import comes in the next release" \
	"mode=lazy is refused as by sbatch"
stage "stage_in source=s3://mine/$ME/%x destination=d/"
run --config allow.conf stage.sh
like "$err" "line 3: stage_in source=s3://mine/$ME/%x: '%x' is not one of %j %u %A %a %%" \
	"an unknown %x"
run --config allow.conf --json stage.sh
like "$out" '"ok": ?false' "--json: refused"
: >norules.conf
stage "stage_in source=s3://bkt/x destination=x"
run --config norules.conf stage.sh
like "$err" "ebb.conf has no s3_allow rule, so every stage is refused" \
	"no s3_allow line: every stage refused"
printf 's3_allow = user:x s3://bkt/ rwx\n' >badrule.conf
run --config badrule.conf stage.sh
is "$st" 1 "a bad s3_allow line: exit 1"
like "$err" "badrule.conf:1: s3_allow: access must be r, w or rw: 'rwx'" \
	"a bad s3_allow line: file, line and reason"
if [ ! -e /usr/local/etc/ebb/ebb.conf ] && [ ! -e /etc/ebb/ebb.conf ]; then
	EBB_CONF= run stage.sh
	is "$st" 0 "no ebb.conf: the stage lines are not checked"
	like "$err" "warning: no ebb.conf was read, so the stage lines were not checked" \
		"no ebb.conf: a warning says so"
else
	skip "an ebb.conf is installed on this machine"
	skip "an ebb.conf is installed on this machine"
fi

# ---- --bb ---------------------------------------------------------------------
run --bb "capacity=1GiB" plain.sh
like "$out" "ok: capacity 1 GiB on 2 node\\(s\\)" "--bb capacity=1GiB"
run --bb "#BB capacity=1GiB; stage_in source=s3://bkt/a destination=a" plain.sh
like "$out" "1 stage_in" "--bb with #BB and ';'"
run --bb "capacity=3.5T" plain.sh
like "$err" "^plain.sh: error: --bb: capacity=3.5T" "--bb errors say --bb"
run --bb "capacity=1GiB" job.sh
like "$err" "error: --bb: a second capacity directive \\(the first is on line 3\\)" \
	"capacity in both the script and --bb"

# ---- warnings -----------------------------------------------------------------
printf '#!/bin/sh\n#BB capacity=1GiB\nhostname\n#BB stage_in source=s3://bkt/ destination=in\n' >late.sh
run late.sh
is "$st" 0 "#BB after the first command: still ok"
like "$err" "late.sh: warning: line 4: #BB after the first command \\(line 3\\) is ignored" \
	"#BB after the first command: a warning with both lines"
printf '#!/bin/sh\r\n#BB capacity=1GiB\r\nhostname\r\n' >dos.sh
run dos.sh
is "$st" 0 "DOS line breaks: the directives are read"
like "$err" "dos.sh: warning: DOS line breaks .*dos2unix" "DOS line breaks: a warning"

# ---- usage and I/O errors -----------------------------------------------------
run
is "$st" 2 "no script: usage error"
run -N 0 job.sh
is "$st" 2 "-N 0: usage error"
run job.sh plain.sh
is "$st" 2 "two scripts: usage error"
run "$D/nonexistent.sh"
is "$st" 1 "a missing script: exit 1"
like "$err" "nonexistent.sh: No such file or directory" "a missing script: why"
printf '#BB capacity=1GiB\n\0\n' >nul.sh
run nul.sh
is "$st" 1 "a script with a NUL byte: exit 1"
like "$("$E" --help)" "check-script +check a batch script's #BB directives" \
	"ebbctl --help lists check-script"

done_testing
