# SPDX-License-Identifier: GPL-2.0-or-later
# configure.t: the plugin's build options (m4/ebb_slurm.m4), run against
# the real configure script in scratch build directories:
# - without --with-slurm-source everything else builds and configure says
#   the plugin is skipped;
# - a directory that is not a configured Slurm tree is refused, naming
#   scripts/get-slurm-source;
# - a Slurm source of another version than the installed slurmctld stops
#   configure with both versions in the message (slurmctld would refuse the
#   plugin at load time);
# - the source of the installed version is accepted, and the plugin is
#   installed into Slurm's plugin directory.
. "$EBB_SRCDIR/tests/tap/tap.sh"
. "$EBB_SRCDIR/tests/lib/fixture.sh"

fixture_init
command -v slurmctld >/dev/null || skip_all "slurmctld is not installed"
[ -x "$EBB_SRCDIR/configure" ] || skip_all "no configure script (autoreconf -fi)"
src=$(sed -n "s/^SLURM_SRC = //p" "$EBB_BUILDDIR/Makefile")
[ -n "$src" ] && [ -f "$src/config.h" ] ||
	skip_all "this build has no Slurm source (configure --with-slurm-source)"
T=$EBB_TEST_DIR
installed=$(slurmctld -V | awk '{print $NF}')

conf() {   # DIR ARGS...: run configure in a scratch dir, output in DIR.out
	local d=$T/$1
	shift
	mkdir -p "$d"
	(cd "$d" && "$EBB_SRCDIR/configure" "$@") >"$d.out" 2>&1
}

conf plain
ok_status $? "configure without --with-slurm-source succeeds"
like "$(cat "$T/plain.out")" "burst_buffer/ebb Slurm plugin is skipped: give --with-slurm-source=DIR" \
	"and says the plugin is skipped and how to build it"

mkdir -p "$T/notslurm"
conf bad --with-slurm-source="$T/notslurm"
is "$?" 1 "a directory that is not a Slurm tree stops configure"
like "$(cat "$T/bad.out")" "is not a configured Slurm source tree.*scripts/get-slurm-source" \
	"the message says what is wrong and what to run"

# a copy of the tree's headers with another micro version
fake=$T/slurm-22.05.7
mkdir -p "$fake/src/slurmctld"
cp "$src/src/slurmctld/burst_buffer.h" "$fake/src/slurmctld/"
sed -e 's/^#define SLURM_VERSION_STRING ".*"/#define SLURM_VERSION_STRING "22.05.7"/' \
	"$src/config.h" >"$fake/config.h"
conf other --with-slurm-source="$fake"
is "$?" 1 "a source of another Slurm version stops configure"
like "$(cat "$T/other.out")" "is version 22.05.7 but the installed slurmctld is $installed.*major, minor and micro" \
	"the message gives both versions and why they must match"

conf good --with-slurm-source="$src" --prefix="$T/prefix"
ok_status $? "the source of the installed version is accepted"
like "$(cat "$T/good.out")" "Slurm plugin: yes \\(source $src, installs into /usr/lib/[^ ]*slurm" \
	"configure says where make install puts the plugin"
done_testing
