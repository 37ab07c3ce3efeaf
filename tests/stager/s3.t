#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# s3.t: the stager's S3 client against a real Ceph RGW (tests/lib/rgw.sh),
# which checks SigV4 signatures as AWS does.  This wrapper provides the
# server, an empty bucket and the awscli command for the interop checks;
# t_s3 prints the TAP stream.
#
# To attach to an RGW you started yourself, export EBB_S3_ENDPOINT,
# EBB_S3_ACCESS_KEY, EBB_S3_SECRET_KEY (and EBB_S3_REGION) first: then
# rgw.sh is not used and the awscli config is written here.
. "$EBB_SRCDIR/tests/tap/tap.sh"

AWS_BIN=/usr/bin/aws    # Debian's awscli v2; a PATH `aws` may be v1
[ -x "$AWS_BIN" ] || skip_all "$AWS_BIN (Debian's awscli) is not installed"

work=$(mktemp -d "${TMPDIR:-/tmp}/ebb-s3t.XXXXXX") || bail "mktemp failed"
bucket="ebb-t-s3-$$"
started_rgw=

# Called at the end, not from an EXIT trap: rgw.sh registers its own
# cleanup with the fixture's trap, which ours would replace.
cleanup() {
	if [ -n "${EBB_S3_ENDPOINT:-}" ]; then
		s3_aws s3 rb --force "s3://$bucket" >/dev/null 2>&1
	fi
	[ -n "$started_rgw" ] && rgw_stop
	rm -rf "$work"
}

if [ -n "${EBB_S3_ENDPOINT:-}" ]; then
	: "${EBB_S3_REGION:=us-east-1}"
	export EBB_S3_REGION
	export AWS_CONFIG_FILE="$work/aws-config"
	export AWS_SHARED_CREDENTIALS_FILE="$work/aws-credentials"
	printf '[default]\nregion = %s\ns3 =\n    addressing_style = path\n' \
		"$EBB_S3_REGION" >"$AWS_CONFIG_FILE"
	printf '[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n' \
		"$EBB_S3_ACCESS_KEY" "$EBB_S3_SECRET_KEY" \
		>"$AWS_SHARED_CREDENTIALS_FILE"
	s3_aws() { "$AWS_BIN" --endpoint-url "$EBB_S3_ENDPOINT" "$@"; }
	trap 'rm -rf "$work"' EXIT
else
	[ -f "$EBB_SRCDIR/tests/lib/rgw.sh" ] ||
		skip_all "tests/lib/rgw.sh (the RGW fixture) is not in this tree yet"
	command -v radosgw >/dev/null ||
		skip_all "radosgw is not installed (apt-get install radosgw ceph-mon ceph-osd)"
	. "$EBB_SRCDIR/tests/lib/rgw.sh"
	rgw_start || bail "rgw_start failed"
	started_rgw=1
fi
export AWS_PAGER=""

if ! s3_aws s3api create-bucket --bucket "$bucket" >"$work/mb.log" 2>&1; then
	why=$(cat "$work/mb.log")
	cleanup
	bail "create-bucket $bucket failed: $why"
fi

export EBB_S3_BUCKET="$bucket"
export EBB_S3_AWS="$AWS_BIN --endpoint-url $EBB_S3_ENDPOINT"
export TMPDIR="$work"
_tap_done=1   # the stream is t_s3's
rc=0
"$EBB_BUILDDIR/tests/stager/t_s3" || rc=$?
cleanup
exit $rc
