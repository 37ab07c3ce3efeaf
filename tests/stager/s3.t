#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# s3.t: the stager's S3 client against a real Ceph RGW (tests/lib/rgw.sh),
# which checks SigV4 signatures as AWS does.  This wrapper provides the
# server, an empty bucket and the awscli command for the interop checks;
# t_s3 prints the TAP stream.  rgw.sh's attach mode works here: export
# EBB_S3_ENDPOINT, EBB_S3_ACCESS_KEY and EBB_S3_SECRET_KEY to use an RGW
# you started yourself.
. "$EBB_SRCDIR/tests/tap/tap.sh"

[ -f "$EBB_SRCDIR/tests/lib/rgw.sh" ] ||
	skip_all "tests/lib/rgw.sh (the RGW fixture) is not in this tree yet"
. "$EBB_SRCDIR/tests/lib/fixture.sh"
. "$EBB_SRCDIR/tests/lib/rgw.sh"

fixture_init || bail "fixture_init failed"
rgw_start || bail "rgw_start failed"    # skips if Ceph or awscli is missing

bucket="ebb-t-s3-$$"
# An attached server outlives the test: leave it as we found it.
_s3t_rb() {
	s3_aws s3 rb --force "s3://$bucket" >/dev/null 2>&1
	return 0
}
fixture_on_cleanup _s3t_rb
s3_mb "$bucket" || bail "cannot create bucket $bucket"

# rgw.sh's fault proxy (503, SlowDown, 500, 403, stalls, truncations) in
# front of the same RGW, when this rgw.sh has it; t_s3 sets its rules.
if declare -F s3proxy_start >/dev/null; then
	s3proxy_start || bail "s3proxy_start failed"
fi

export EBB_S3_BUCKET="$bucket"
export EBB_S3_AWS="${EBB_AWS:-/usr/bin/aws} --endpoint-url $EBB_S3_ENDPOINT"
export TMPDIR="$EBB_TEST_DIR"
_tap_done=1   # the stream is t_s3's
"$EBB_BUILDDIR/tests/stager/t_s3"
