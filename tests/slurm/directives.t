# SPDX-License-Identifier: GPL-2.0-or-later
# directives.t: bad #BB lines are refused by sbatch itself (the plugin's
# bb_p_job_validate), with exit status 1 and a message that names the line,
# what is wrong and what would be right (docs/directives.md); nothing is
# created: no job record, no instance on any bbd.  The grammar itself is
# tested offline in tests/common/t_directive and tests/client/check_script.t.
# Stage lines are also checked against ebb.conf's s3_allow rules for the
# submitting user (the rules are tested in tests/common/t_s3path); lines that
# pass are accepted (tests/slurm/stage.t runs them).
. "$EBB_SRCDIR/tests/slurm/bb.sh"

bb_setup --ebb-conf "max_capacity = 1GiB" \
	--ebb-conf "s3_allow = user:ebbtest s3://bkt/in/ r" \
	--ebb-conf "s3_allow = user:ebbtest s3://bkt/ro/ r" \
	--ebb-conf "s3_allow = *  s3://results/%u/  rw"
J=$SLURM_JOBS_DIR

# refused SCRIPT-BODY MESSAGE-REGEX DESC: sbatch -N3 of a script with these
# lines exits 1 and prints the message
refused() {
	local out st
	printf '#!/bin/bash\n#SBATCH -N 3 -o /dev/null\n%s\ntrue\n' "$1" >"$J/bad.sh"
	chmod 644 "$J/bad.sh"
	out=$(cd "$J" && fixture_as ebbtest env SLURM_CONF="$SLURM_CONF" sbatch bad.sh 2>&1)
	st=$?
	is "$st" 1 "$3: sbatch exits 1"
	like "$out" "$2" "$3: sbatch says why"
}

refused "#BB capacity=1GiB colour=blue" \
	"burst_buffer/ebb: line 3: unknown key 'colour'.*capacity.*stripe_size" "unknown key"
refused "#BB capacity=3.5T" \
	"line 3: capacity=3.5T: 'T' is ambiguous: write 3.5TiB .* or 3.5TB" "ambiguous size"
refused "#BB capacity=lots" "line 3: capacity=lots" "not a size"
refused "#BB capcity=1GiB" "line 3: unknown directive 'capcity': did you mean 'capacity'" "misspelt directive"
refused $'#BB capacity=100MiB\n#BB stage_in source=s3://bkt/in/ destination=../etc/' \
	"line 4: destination=../etc/.*\\.\\." "a destination escaping the job's file system"
refused $'#BB capacity=100MiB\n#BB stage_in source=s3://bkt/in/ destination=/etc/' \
	"line 4: destination=/etc/ is an absolute path.*relative" "an absolute destination"
refused "#BB capacity=2GiB" "line 3: capacity=2GiB is more than .*1 GiB.*max_capacity" \
	"capacity above the site's limit"
# accepted SCRIPT-BODY DESC: sbatch takes it (submitted held, then cancelled)
accepted() {
	local out st
	printf '#!/bin/bash\n#SBATCH -N 3 -o /dev/null\n%s\ntrue\n' "$1" >"$J/good.sh"
	chmod 644 "$J/good.sh"
	out=$(cd "$J" && fixture_as ebbtest env SLURM_CONF="$SLURM_CONF" sbatch --hold --parsable good.sh 2>&1)
	st=$?
	is "$st" 0 "$2: sbatch accepts it" || diag "$out"
	[ "$st" = 0 ] && scancel "${out%%;*}"
}
accepted $'#BB capacity=100MiB\n#BB stage_in source=s3://bkt/in/ destination=input/' \
	"an allowed stage_in"
accepted $'#BB capacity=100MiB\n#BB stage_out source=out/ destination=s3://results/ebbtest/run%j/' \
	"an allowed stage_out with %j"
refused $'#BB capacity=100MiB\n#BB stage_in source=s3://other-bkt/x destination=x' \
	"line 4: stage_in: s3://other-bkt/x is not allowed for reading: no s3_allow rule in ebb.conf matches user ebbtest \\(groups: .*\\); rules for them: line [0-9]+ allows s3://bkt/in/ \\(r\\), line [0-9]+ allows s3://bkt/ro/ \\(r\\), line [0-9]+ allows s3://results/ebbtest/ \\(rw\\)" \
	"a stage_in outside the allow-list"
refused $'#BB capacity=100MiB\n#BB stage_out source=out/ destination=s3://bkt/ro/x/' \
	"line 4: stage_out: s3://bkt/ro/x/ is not allowed for writing: the first s3_allow rule in ebb.conf that matches it, line [0-9]+ \\(user:ebbtest s3://bkt/ro/ r\\), allows reading only" \
	"a stage_out where the rule gives no w"
refused $'#BB capacity=100MiB\n#BB stage_out source=out/ destination=s3://results/someone-else/' \
	"line 4: stage_out: s3://results/someone-else/ is not allowed for writing" \
	"a stage_out into another user's %u prefix"
refused $'#BB capacity=100MiB\n#BB stage_in source=s3://bkt/in/ destination=in/ mode=lazy' \
	"line 4: stage_in mode=lazy: lazy import comes in the next release of ebb: remove mode=lazy to use the default, eager mode" \
	"mode=lazy"
refused $'#BB capacity=100MiB\n#BB stage_in source=s3://bkt/in/%x destination=in/' \
	"line 4: stage_in source=s3://bkt/in/%x: '%x' is not one of %j %u %A %a %%" \
	"an unknown %x"
printf '#!/bin/bash\n#SBATCH -N 1 -o /dev/null\ntrue\n' >"$J/plain.sh"
chmod 644 "$J/plain.sh"
out=$(cd "$J" && fixture_as ebbtest env SLURM_CONF="$SLURM_CONF" sbatch --bb "capacity=9Q" plain.sh 2>&1)
like "$out" "--bb: capacity=9Q" "an error in sbatch --bb names --bb"

is "$(squeue -h | wc -l)" 0 "no refused job is in the queue"
is "$(scontrol show burst | grep -c 'JobID=')" 0 "no allocation was recorded"
ok "no bbd holds any instance" bb_no_instances
done_testing
