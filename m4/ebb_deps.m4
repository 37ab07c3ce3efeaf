# SPDX-License-Identifier: GPL-2.0-or-later
# EBB_REQUIRE_PKG(VAR, MODULES, DEBIAN-PACKAGE)
# Find a required library with pkg-config; stop with the Debian package to install.
AC_DEFUN([EBB_REQUIRE_PKG], [
  PKG_CHECK_MODULES([$1], [$2], [],
    [AC_MSG_ERROR([ebb needs $2 (pkg-config module not found). On Debian: apt-get install $3 (or run scripts/install-deps)])])
])
