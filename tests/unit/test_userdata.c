#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "check.h"
#include "userdata.h"

#define HAIL_JSON "{\"hail\": {\"job-uri\": \"https://h/job/p/j/x\"}}"

static int extract(const char *data, size_t len, char **json)
{
	struct hail_errbuf e;
	size_t n;

	return userdata_extract(data, len, json, &n, &e);
}

static size_t gzip(const char *in, size_t len, char *out, size_t size)
{
	z_stream z = { 0 };

	deflateInit2(&z, 9, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
	z.next_in = (unsigned char *)in;
	z.avail_in = (unsigned)len;
	z.next_out = (unsigned char *)out;
	z.avail_out = (unsigned)size;
	deflate(&z, Z_FINISH);
	deflateEnd(&z);
	return size - z.avail_out;
}

static const char mime[] =
	"Content-Type: multipart/mixed; boundary=\"===BOUND===\"\r\n"
	"MIME-Version: 1.0\r\n\r\n"
	"preamble\r\n"
	"--===BOUND===\r\n"
	"Content-Type: text/cloud-config\r\n\r\n"
	"#cloud-config\r\npackages: [htop]\r\n"
	"--===BOUND===\r\n"
	"Content-Type: application/json\r\n\r\n"
	HAIL_JSON "\r\n"
	"--===BOUND===--\r\n";

static const char mime_b64[] =
	"Content-Type: multipart/mixed; boundary=XYZ\n"
	"MIME-Version: 1.0\n\n"
	"--XYZ\n"
	"Content-Type: text/x-shellscript\n\n"
	"#!/bin/sh\necho hi\n"
	"--XYZ\n"
	"Content-Type: application/json\n"
	"Content-Transfer-Encoding: base64\n\n"
	"eyJoYWlsIjogeyJqb2ItdXJpIjogImh0dHBzOi8vaC9qb2IvcC9qL3gifX0=\n"
	"--XYZ--\n";

int main(void)
{
	char *json = NULL, gz[USERDATA_MAX * 2], *big;
	size_t n;
	int r;

	r = extract(HAIL_JSON, strlen(HAIL_JSON), &json);
	CHECK(r == 0 && json && !strcmp(json, HAIL_JSON), "plain JSON");
	free(json);

	r = extract("  \n" HAIL_JSON "\n", strlen(HAIL_JSON) + 4, &json);
	CHECK(r == 0 && json && !strcmp(json, HAIL_JSON), "JSON with whitespace");
	free(json);

	n = gzip(HAIL_JSON, strlen(HAIL_JSON), gz, sizeof(gz));
	r = extract(gz, n, &json);
	CHECK(r == 0 && json && !strcmp(json, HAIL_JSON), "gzip JSON");
	free(json);

	r = extract(mime, strlen(mime), &json);
	CHECK(r == 0 && json && !strcmp(json, HAIL_JSON), "MIME multipart with CRLF");
	free(json);

	r = extract(mime_b64, strlen(mime_b64), &json);
	CHECK(r == 0 && json && !strcmp(json, HAIL_JSON), "MIME base64 part, LF");
	free(json);

	n = gzip(mime, strlen(mime), gz, sizeof(gz));
	r = extract(gz, n, &json);
	CHECK(r == 0 && json && !strcmp(json, HAIL_JSON), "gzip MIME");
	free(json);

	r = extract("#cloud-config\npackages: []\n", 27, &json);
	CHECK(r == 0 && !json, "cloud-config only: no settings");
	r = extract("{\"other\": 1}", 12, &json);
	CHECK(r == 0 && !json, "JSON without hail: no settings");
	r = extract("", 0, &json);
	CHECK(r == 0 && !json, "empty");

	/* malformed */
	r = extract("{\"hail\": {", 10, &json);
	CHECK(r == HAIL_E_USAGE && !json, "broken JSON");
	r = extract("\x1f\x8b\x08\x00garbage", 12, &json);
	CHECK(r == HAIL_E_USAGE && !json, "corrupt gzip");
	n = gzip(HAIL_JSON, strlen(HAIL_JSON), gz, sizeof(gz));
	r = extract(gz, n - 6, &json);
	CHECK(r == HAIL_E_USAGE && !json, "truncated gzip");
	/* a gzip bomb: 1 MiB of spaces */
	big = calloc(1, 1 << 20);
	memset(big, ' ', 1 << 20);
	n = gzip(big, 1 << 20, gz, sizeof(gz));
	r = extract(gz, n, &json);
	CHECK(r == HAIL_E_USAGE && !json, "gzip over the cap (%zu bytes compressed)", n);
	free(big);
	big = calloc(1, USERDATA_MAX + 2);
	memset(big, ' ', USERDATA_MAX + 1);
	r = extract(big, USERDATA_MAX + 1, &json);
	CHECK(r == HAIL_E_USAGE && !json, "over the cap uncompressed");
	free(big);
	{
		static const char no_end[] = "Content-Type: multipart/mixed; boundary=B\n\n--B\n"
			"Content-Type: application/json\n\n" HAIL_JSON "\n";
		r = extract(no_end, strlen(no_end), &json);
		CHECK(r == HAIL_E_USAGE && !json, "MIME without closing boundary");
	}
	{
		static const char no_boundary[] = "Content-Type: multipart/mixed\n\n--B\n";
		r = extract(no_boundary, strlen(no_boundary), &json);
		CHECK(r == HAIL_E_USAGE && !json, "MIME without boundary");
	}
	{
		static const char two[] = "Content-Type: multipart/mixed; boundary=B\n\n--B\n\n"
			HAIL_JSON "\n--B\n\n" HAIL_JSON "\n--B--\n";
		r = extract(two, strlen(two), &json);
		CHECK(r == HAIL_E_USAGE && !json, "MIME with two hail parts");
	}
	{
		static const char bad64[] = "Content-Type: multipart/mixed; boundary=B\n\n--B\n"
			"Content-Transfer-Encoding: base64\n\n!!!notbase64!!!\n--B--\n";
		r = extract(bad64, strlen(bad64), &json);
		CHECK(r == HAIL_E_USAGE && !json, "MIME with bad base64");
	}
	return check_exit();
}
