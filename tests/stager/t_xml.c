/* SPDX-License-Identifier: GPL-2.0-or-later */
/* t_xml: the S3 XML bodies the stager parses (ListObjectsV2, multipart,
 * errors, the 200-with-Error CompleteMultipartUpload), and bad ones. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "stg.h"
#include "stg_int.h"
#include "tap.h"

#define NS "xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\""

static const char list1[] =
	"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	"<ListBucketResult " NS ">"
	"<Name>bkt</Name><Prefix></Prefix><KeyCount>3</KeyCount>"
	"<MaxKeys>3</MaxKeys><IsTruncated>true</IsTruncated>"
	"<NextContinuationToken>1/aB+cd=e==</NextContinuationToken>"
	"<Contents><Key>a &amp; b &lt;c&gt;.txt</Key>"
	"<LastModified>2026-12-03T17:35:54.123Z</LastModified>"
	"<ETag>&quot;0cc175b9c0f1b6a831c399e269772661&quot;</ETag>"
	"<Size>1</Size><StorageClass>STANDARD</StorageClass></Contents>"
	"<Contents><Key>\xc3\xa9t\xc3\xa9/\xe2\x82\xac +%=.bin</Key>"
	"<LastModified>1970-01-01T00:00:01.000Z</LastModified>"
	"<ETag>\"d41d8cd98f00b204e9800998ecf8427e-3\"</ETag>"
	"<Size>18446744073709551615</Size></Contents>"
	"<Contents><Key>dir/</Key>"
	"<LastModified>2000-02-29T23:59:59Z</LastModified>"
	"<ETag>\"x\"</ETag><Size>0</Size></Contents>"
	"<CommonPrefixes><Prefix>p1/</Prefix></CommonPrefixes>"
	"<CommonPrefixes><Prefix>p 2/</Prefix></CommonPrefixes>"
	"</ListBucketResult>";

static void test_list(void)
{
	struct stg_result r = {0};
	char err[256] = "";
	ebb_err e = stg_xml_list(list1, strlen(list1), &r, err, sizeof(err));

	is_int(e, EBB_OK, "list parses (%s)", err);
	is_int(r.nobjects, 3, "3 objects");
	ok(r.truncated, "truncated");
	is_str(r.next_token, "1/aB+cd=e==", "token with + / = kept raw");
	if (r.nobjects == 3) {
		is_str(r.objects[0].key, "a & b <c>.txt", "entities decoded");
		is_int(r.objects[0].size, 1, "size");
		is_str(r.objects[0].etag,
		       "\"0cc175b9c0f1b6a831c399e269772661\"", "etag &quot;");
		is_int(r.objects[0].mtime_ns, 1796319354123000000LL,
		       "LastModified with ms");
		is_str(r.objects[1].key,
		       "\xc3\xa9t\xc3\xa9/\xe2\x82\xac +%=.bin", "unicode key");
		ok(r.objects[1].size == UINT64_MAX, "64-bit size");
		is_int(r.objects[1].mtime_ns, 1000000000LL, "epoch + 1 s");
		is_int(r.objects[2].mtime_ns, 951868799000000000LL,
		       "LastModified without fraction, leap day");
	} else {
		skip_block(8, "wrong object count");
	}
	is_int(r.nprefixes, 2, "2 common prefixes");
	if (r.nprefixes == 2)
		is_str(r.prefixes[1], "p 2/", "prefix");
	else
		skip("no prefixes");
	stg_result_free(&r);
	ok(r.objects == NULL && r.next_token == NULL && r.nobjects == 0,
	   "result_free resets");

	{
		static const char empty[] =
			"<?xml version=\"1.0\" encoding=\"UTF-8\"?>"
			"<ListBucketResult " NS "><Name>b</Name>"
			"<KeyCount>0</KeyCount><IsTruncated>false"
			"</IsTruncated></ListBucketResult>";

		memset(&r, 0, sizeof(r));
		e = stg_xml_list(empty, strlen(empty), &r, err, sizeof(err));
		ok(e == EBB_OK && r.nobjects == 0 && !r.truncated &&
		   !r.next_token, "empty listing");
		stg_result_free(&r);
	}
	{
		static const char notok[] =
			"<ListBucketResult><IsTruncated>true</IsTruncated>"
			"</ListBucketResult>";

		memset(&r, 0, sizeof(r));
		e = stg_xml_list(notok, strlen(notok), &r, err, sizeof(err));
		ok(e == EBB_EPROTO && strstr(err, "NextContinuationToken"),
		   "truncated without a token refused: %s", err);
		stg_result_free(&r);
	}
	{
		static const char badsize[] =
			"<ListBucketResult><Contents><Key>k</Key><Size>-1"
			"</Size></Contents></ListBucketResult>";

		memset(&r, 0, sizeof(r));
		e = stg_xml_list(badsize, strlen(badsize), &r, err,
				 sizeof(err));
		ok(e == EBB_EPROTO && strstr(err, "Size"),
		   "bad Size refused: %s", err);
		stg_result_free(&r);
	}
	{
		static const char err404[] =
			"<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error>"
			"<Code>NoSuchBucket</Code><Message>gone</Message>"
			"<BucketName>x</BucketName></Error>";

		memset(&r, 0, sizeof(r));
		e = stg_xml_list(err404, strlen(err404), &r, err, sizeof(err));
		ok(e == EBB_E_S3 && strstr(err, "NoSuchBucket"),
		   "Error document instead of a list: %s", err);
		stg_result_free(&r);
	}
}

static void test_list_encoded(void)
{
	static const char body[] =
		"<ListBucketResult " NS "><EncodingType>url</EncodingType>"
		"<IsTruncated>false</IsTruncated>"
		"<Contents><Key>ctl%01x%0Ay</Key><Size>1</Size></Contents>"
		"<Contents><Key>a%20b%2Bc%25d+e%C3%A9</Key><Size>2</Size>"
		"</Contents>"
		"<CommonPrefixes><Prefix>p%20q/</Prefix></CommonPrefixes>"
		"</ListBucketResult>";
	static const char bad[] =
		"<ListBucketResult><Contents><Key>x%zz</Key><Size>1</Size>"
		"</Contents><EncodingType>url</EncodingType>"
		"</ListBucketResult>";
	static const char raw[] =
		"<ListBucketResult><Contents><Key>a%20b+c</Key><Size>1</Size>"
		"</Contents></ListBucketResult>";
	struct stg_result r = {0};
	char err[256] = "";

	is_int(stg_xml_list(body, strlen(body), &r, err, sizeof(err)), EBB_OK,
	       "encoding-type=url page: %s", err);
	if (r.nobjects == 2 && r.nprefixes == 1) {
		is_str(r.objects[0].key, "ctl\001x\ny", "control bytes decoded");
		is_str(r.objects[1].key, "a b+c%d e\xc3\xa9",
		       "%%20, %%2B, %%25, '+' (AWS's space) and UTF-8 decoded");
		is_str(r.prefixes[0], "p q/", "CommonPrefixes decoded");
	} else {
		skip_block(3, "wrong counts");
	}
	stg_result_free(&r);
	memset(&r, 0, sizeof(r));
	ok(stg_xml_list(bad, strlen(bad), &r, err, sizeof(err)) == EBB_EPROTO
	   && strstr(err, "URL encoding"), "bad escape refused: %s", err);
	stg_result_free(&r);
	memset(&r, 0, sizeof(r));
	is_int(stg_xml_list(raw, strlen(raw), &r, err, sizeof(err)), EBB_OK,
	       "page without EncodingType");
	if (r.nobjects == 1)
		is_str(r.objects[0].key, "a%20b+c", "left as it is");
	else
		skip("no object");
	stg_result_free(&r);
}

static void test_malformed(void)
{
	static const char *const bad[] = {
		"<ListBucketResult><Contents><Key>k</Contents>",
		"<ListBucketResult>",
		"not xml at all",
		"<ListBucketResult><Key>&bogus;</Key></ListBucketResult>",
		"<ListBucketResult></ListBucketResult><extra/>",
	};
	struct stg_result r = {0};
	char err[256];
	unsigned i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		memset(&r, 0, sizeof(r));
		ok(stg_xml_list(bad[i], strlen(bad[i]), &r, err, sizeof(err))
		   == EBB_EPROTO && strstr(err, "malformed XML at line"),
		   "malformed %u refused: %s", i, err);
		stg_result_free(&r);
	}
	memset(&r, 0, sizeof(r));
	ok(stg_xml_list("", 0, &r, err, sizeof(err)) == EBB_EPROTO &&
	   strstr(err, "empty body"), "empty body: %s", err);
	ok(stg_xml_list("<Other/>", 8, &r, err, sizeof(err)) == EBB_EPROTO &&
	   strstr(err, "expected a ListBucketResult"), "wrong root: %s", err);
	stg_result_free(&r);
}

static void test_mpu(void)
{
	static const char init[] =
		"<?xml version=\"1.0\" encoding=\"UTF-8\"?>"
		"<InitiateMultipartUploadResult " NS "><Bucket>b</Bucket>"
		"<Key>k</Key><UploadId>2~Ab.cD_eF-gH</UploadId>"
		"</InitiateMultipartUploadResult>";
	static const char done[] =
		"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
		"<CompleteMultipartUploadResult " NS "><Location>http://x/b/k"
		"</Location><Bucket>b</Bucket><Key>k</Key>"
		"<ETag>&quot;3858f62230ac3c915f300c664312c11f-3&quot;</ETag>"
		"</CompleteMultipartUploadResult>";
	/* S3 sends 200 at once, spaces while it assembles the parts, then
	 * either the result or an <Error>. */
	static const char done_err[] =
		"\n  \n   \n<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
		"<Error><Code>InternalError</Code><Message>We encountered an "
		"internal error. Please try again.</Message><RequestId>4442587"
		"</RequestId></Error>";
	static const char noid[] =
		"<InitiateMultipartUploadResult><Bucket>b</Bucket>"
		"</InitiateMultipartUploadResult>";
	char id[256], etag[80], code[64], msg[256], err[256];
	ebb_err e;

	e = stg_xml_upload_id(init, strlen(init), id, sizeof(id), err,
			      sizeof(err));
	ok(e == EBB_OK && strcmp(id, "2~Ab.cD_eF-gH") == 0, "UploadId: %s",
	   id);
	e = stg_xml_upload_id(noid, strlen(noid), id, sizeof(id), err,
			      sizeof(err));
	ok(e == EBB_EPROTO && strstr(err, "no UploadId"), "no UploadId: %s",
	   err);
	e = stg_xml_complete(done, strlen(done), etag, sizeof(etag), code,
			     sizeof(code), msg, sizeof(msg), err, sizeof(err));
	ok(e == EBB_OK &&
	   strcmp(etag, "\"3858f62230ac3c915f300c664312c11f-3\"") == 0,
	   "Complete ETag %s", etag);
	e = stg_xml_complete(done_err, strlen(done_err), etag, sizeof(etag),
			     code, sizeof(code), msg, sizeof(msg), err,
			     sizeof(err));
	ok(e == EBB_E_S3, "200 with <Error> is a failure");
	is_str(code, "InternalError", "its Code");
	ok(strstr(msg, "internal error") != NULL, "its Message");
	ok(strstr(err, "200 with an Error document: InternalError") != NULL,
	   "message says so: %s", err);
	ok(stg_retryable(200, code, EBB_E_S3), "and it is retryable");
	{
		static const char rgw[] =
			"<?xml version=\"1.0\" encoding=\"UTF-8\"?>"
			"<CompleteMultipartUploadResult " NS "><Location>l"
			"</Location><Bucket>b</Bucket><Key>k</Key><ETag></ETag>"
			"</CompleteMultipartUploadResult>";

		e = stg_xml_complete(rgw, strlen(rgw), etag, sizeof(etag),
				     code, sizeof(code), msg, sizeof(msg), err,
				     sizeof(err));
		ok(e == EBB_OK && etag[0] == '\0',
		   "RGW 16's empty ETag accepted");
	}
	e = stg_xml_complete("   ", 3, etag, sizeof(etag), code, sizeof(code),
			     msg, sizeof(msg), err, sizeof(err));
	ok(e == EBB_EPROTO && strstr(err, "empty body"),
	   "only keep-alive spaces: %s", err);
}

static void test_error(void)
{
	static const char body[] =
		"<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error>"
		"<Code>SignatureDoesNotMatch</Code><Message></Message>"
		"<RequestId>tx0</RequestId><HostId>h</HostId></Error>";
	char code[64], msg[256];

	ok(stg_xml_error(body, strlen(body), code, sizeof(code), msg,
			 sizeof(msg)) == EBB_OK, "Error body parses");
	is_str(code, "SignatureDoesNotMatch", "Code");
	is_str(msg, "", "empty Message (RGW)");
	ok(stg_xml_error("<html>502</html>", 16, code, sizeof(code), msg,
			 sizeof(msg)) == EBB_EPROTO && code[0] == '\0',
	   "an HTML proxy page is not an Error");
	ok(stg_xml_error("<Error><Code>X", 14, code, sizeof(code), msg,
			 sizeof(msg)) == EBB_EPROTO, "cut Error body");
}

static void test_helpers(void)
{
	char *s = stg_xml_escape("<a href='x'>\"&\"</a>");

	is_str(s, "&lt;a href=&apos;x&apos;&gt;&quot;&amp;&quot;&lt;/a&gt;",
	       "escape");
	free(s);
	is_int(stg_iso8601_ns("2026-12-03T17:35:54Z"), 1796319354000000000LL,
	       "iso8601");
	is_int(stg_iso8601_ns("2026-12-03T17:35:54.5Z"),
	       1796319354500000000LL, "iso8601 .5");
	is_int(stg_iso8601_ns("2026-12-03 17:35:54Z"), -1, "no T");
	is_int(stg_iso8601_ns("2026-12-03T17:35:54"), -1, "no zone");
	is_int(stg_iso8601_ns("2026-13-03T17:35:54Z"), -1, "month 13");
}

int main(void)
{
	plan_lazy();
	test_list();
	test_list_encoded();
	test_malformed();
	test_mpu();
	test_error();
	test_helpers();
	return tap_exit();
}
