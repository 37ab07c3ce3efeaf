# SPDX-License-Identifier: GPL-2.0-or-later
# EBB_ENABLE_FLAGS: --enable-debug, --enable-asan, --enable-werror -> EBB_CFLAGS/EBB_LDFLAGS.
AC_DEFUN([EBB_ENABLE_FLAGS], [
  EBB_CFLAGS="-Wall -Wextra -Wno-unused-parameter -Wno-missing-field-initializers -Wshadow -Wformat=2 -fno-strict-aliasing"
  EBB_LDFLAGS=""
  AC_ARG_ENABLE([debug],
    [AS_HELP_STRING([--enable-debug], [build with -O0 -g3 and assertions])],
    [], [enable_debug=no])
  AS_IF([test "x$enable_debug" = xyes],
    [EBB_CFLAGS="$EBB_CFLAGS -O0 -g3"],
    [EBB_CFLAGS="$EBB_CFLAGS -g"])
  AC_ARG_ENABLE([asan],
    [AS_HELP_STRING([--enable-asan], [build with AddressSanitizer and UBSan])],
    [], [enable_asan=no])
  AS_IF([test "x$enable_asan" = xyes], [
    EBB_CFLAGS="$EBB_CFLAGS -fsanitize=address,undefined -fno-omit-frame-pointer"
    EBB_LDFLAGS="$EBB_LDFLAGS -fsanitize=address,undefined"])
  AC_ARG_ENABLE([werror],
    [AS_HELP_STRING([--enable-werror], [treat compiler warnings as errors])],
    [], [enable_werror=no])
  AS_IF([test "x$enable_werror" = xyes], [EBB_CFLAGS="$EBB_CFLAGS -Werror"])
  AC_SUBST([EBB_CFLAGS])
  AC_SUBST([EBB_LDFLAGS])
])
