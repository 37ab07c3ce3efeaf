# SPDX-License-Identifier: GPL-2.0-or-later
# EBB_SLURM_PLUGIN: --with-slurm-source=DIR builds burst_buffer_ebb.so.
#
# DIR is a configured Slurm source tree (scripts/get-slurm-source makes one):
# its config.h gives SLURM_VERSION_NUMBER, which the plugin exports as
# plugin_version and which slurmctld compares exactly (major.minor.micro).
# When slurmctld is installed here, its version must be the same, or the
# plugin would be refused at load time: configure stops and says so.
# Without the option the plugin is skipped and everything else builds.
AC_DEFUN([EBB_SLURM_PLUGIN], [
  AC_ARG_WITH([slurm-source],
    [AS_HELP_STRING([--with-slurm-source=DIR],
      [configured Slurm source tree of the installed Slurm version; builds the burst_buffer/ebb plugin (see scripts/get-slurm-source)])],
    [], [with_slurm_source=no])
  AC_ARG_WITH([slurm-plugindir],
    [AS_HELP_STRING([--with-slurm-plugindir=DIR],
      [where make install puts burst_buffer_ebb.so (default: the directory of the installed Slurm plugins)])],
    [], [with_slurm_plugindir=])
  SLURM_SRC=
  ebb_slurm_plugin=no
  AS_IF([test "x$with_slurm_source" != xno && test "x$with_slurm_source" != x], [
    SLURM_SRC=`cd "$with_slurm_source" 2>/dev/null && pwd`
    AS_IF([test -z "$SLURM_SRC" || test ! -f "$SLURM_SRC/config.h" ||
           test ! -f "$SLURM_SRC/src/slurmctld/burst_buffer.h"],
      [AC_MSG_ERROR([--with-slurm-source=$with_slurm_source is not a configured Slurm source tree (no config.h or src/slurmctld/burst_buffer.h); run scripts/get-slurm-source to make one])])
    AC_MSG_CHECKING([the Slurm version of $SLURM_SRC])
    ebb_slurm_src_ver=`sed -n 's/^#define SLURM_VERSION_STRING "\(.*\)"/\1/p' "$SLURM_SRC/config.h"`
    AC_MSG_RESULT([$ebb_slurm_src_ver])
    AS_IF([test -z "$ebb_slurm_src_ver"],
      [AC_MSG_ERROR([$SLURM_SRC/config.h has no SLURM_VERSION_STRING])])
    AC_PATH_PROG([SLURMCTLD], [slurmctld], [], [$PATH$PATH_SEPARATOR/usr/sbin$PATH_SEPARATOR/usr/local/sbin])
    AS_IF([test -n "$SLURMCTLD"], [
      AC_MSG_CHECKING([the version of $SLURMCTLD])
      ebb_slurm_run_ver=`"$SLURMCTLD" -V 2>/dev/null | awk '{print $NF}'`
      AC_MSG_RESULT([$ebb_slurm_run_ver])
      AS_IF([test "x$ebb_slurm_run_ver" != "x$ebb_slurm_src_ver"],
        [AC_MSG_ERROR([the Slurm source in $SLURM_SRC is version $ebb_slurm_src_ver but the installed slurmctld is $ebb_slurm_run_ver; slurmctld refuses a plugin built for another version (major, minor and micro must match). Run scripts/get-slurm-source to fetch the source of the installed version.])])
    ], [AC_MSG_WARN([no slurmctld here: cannot check that Slurm $ebb_slurm_src_ver is what will load the plugin])])
    AS_IF([test -z "$with_slurm_plugindir"], [
      for d in /usr/lib/*/slurm-wlm /usr/lib64/slurm /usr/lib/slurm /usr/local/lib/slurm; do
        AS_IF([test -f "$d/select_cons_tres.so"], [with_slurm_plugindir=$d; break])
      done
    ])
    AS_IF([test -z "$with_slurm_plugindir"],
      [AC_MSG_ERROR([cannot find the Slurm plugin directory (no select_cons_tres.so in the usual places); give --with-slurm-plugindir=DIR])])
    ebb_slurm_plugin=yes
  ])
  AC_SUBST([SLURM_SRC])
  AC_SUBST([SLURM_PLUGINDIR], [$with_slurm_plugindir])
  AM_CONDITIONAL([EBB_SLURM_PLUGIN], [test $ebb_slurm_plugin = yes])
])
