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

/* Python's EmailMessage.set_content() for the JSON below (a line over 78
 * characters: quoted-printable), as_bytes(policy=SMTP): CRLF line ends. */
#define QP_JSON "{\"hail\": {\"job-uri\": \"https://h/job/p/j/x\", \"netrc\": " \
	"\"machine h login u password a=b==c\\n\", \"trusted-public-keys\": " \
	"[\"hail-test-1:o3v3i1iGJ6lWQ1flVA9g8zZRoWfY4ZXUd3v8I2N0Kk8=\"]}}"
static const char mime_qp[] =
	"Content-Type: multipart/mixed; boundary=\"==B4698967512387663046==\"\r\n"
	"\r\n"
	"--==B4698967512387663046==\r\n"
	"Content-Type: text/json; charset=\"utf-8\"\r\n"
	"Content-Transfer-Encoding: quoted-printable\r\n"
	"MIME-Version: 1.0\r\n"
	"\r\n"
	"{\"hail\": {\"job-uri\": \"https://h/job/p/j/x\", \"netrc\": \"machine h login u passw=\r\n"
	"ord a=3Db=3D=3Dc\\n\", \"trusted-public-keys\": [\"hail-test-1:o3v3i1iGJ6lWQ1flVA9=\r\n"
	"g8zZRoWfY4ZXUd3v8I2N0Kk8=3D\"]}}\r\n"
	"\r\n"
	"--==B4698967512387663046==--\r\n";

/* A one-part MIME document with the given transfer encoding and body. */
static char *mime_part(const char *cte, const char *body)
{
	static char buf[4096];

	snprintf(buf, sizeof(buf), "Content-Type: multipart/mixed; boundary=B\n\n--B\n"
		 "Content-Transfer-Encoding: %s\n\n%s\n--B--\n", cte, body);
	return buf;
}

/* cloud-config cases: the document, and the JSON it must become (NULL: no
 * settings), or a phrase its error must hold. */
static void cloud_config_cases(void)
{
	static const struct {
		const char *doc, *json, *error;
	} rows[] = {
		{ "#cloud-config\npackages: [htop]\nhail:\n  job-uri: https://h/job/p/j/x\n",
		  "{\"hail\":{\"job-uri\":\"https://h/job/p/j/x\"}}", NULL },
		{ "#cloud-config\r\nhail: {profile: web, poll-period: 5}\r\n",
		  "{\"hail\":{\"profile\":\"web\",\"poll-period\":5}}", NULL },
		/* PyYAML's (cloud-init's) booleans; quoted, a string; 010 and 1:30 stay text */
		{ "#cloud-config\nhail:\n  report-health: yes\n  a: 'yes'\n  b: 010\n  c: 1:30\n  d: ~\n",
		  "{\"hail\":{\"report-health\":true,\"a\":\"yes\",\"b\":\"010\",\"c\":\"1:30\","
		  "\"d\":null}}", NULL },
		{ "#cloud-config\nhail:\n  netrc: |\n    machine h login u password p\n  profile: x\n",
		  "{\"hail\":{\"netrc\":\"machine h login u password p\\n\",\"profile\":\"x\"}}", NULL },
		{ "#cloud-config\nurl: &u https://h/job/p/j/x\nhail:\n  job-uri: *u\n",
		  "{\"hail\":{\"job-uri\":\"https://h/job/p/j/x\"}}", NULL },
		{ "#cloud-config\nhail:\n  substituters:\n    - https://c\n",
		  "{\"hail\":{\"substituters\":[\"https://c\"]}}", NULL },
		{ "#cloud-config\nruncmd: [ls]\n", NULL, NULL },
		{ "#cloud-config\n", NULL, NULL },
		{ "#cloud-config\n- a list\n", NULL, NULL },
		{ "#cloud-config-archive\n- {type: text/cloud-config, content: 'hail: {}'}\n", NULL, NULL },
		{ "#cloud-config\nhail: [a]\n", NULL, "line 2: hail: must be a mapping" },
		{ "#cloud-config\nhail:\n", NULL, "hail: must be a mapping" },
		{ "#cloud-config\nhail: {}\nhail: {}\n", NULL, "hail: given twice" },
		{ "#cloud-config\nhail:\n  job-uri: x\n   bad: : y\n", NULL,
		  "line 4 column 7: mapping values are not allowed" },
		{ "#cloud-config\nhail: {a: 1}\n---\nb: 2\n", NULL, "more than one YAML document" },
		{ "#cloud-config\na: &a [1, *a]\n", NULL, "alias inside its own anchor" },
		{ "#cloud-config\nb: &b {profile: x}\nhail:\n  <<: *b\n", NULL, "merge keys" },
		{ "#cloud-config\nhail:\n  a: \"x\\0y\"\n", NULL, "line 3: a NUL byte in a value" },
		{ "#cloud-config\nhail:\n  ? [a]\n  : b\n", NULL, "a key that is not a string" },
		{ "#cloud-config\nhail: *nowhere\n", NULL, "line 2 column 7: found undefined alias" },
	};
	char deep[256] = "#cloud-config\nx: ";
	struct hail_errbuf e;
	char *json;
	size_t n;
	int r;

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		e.msg[0] = '\0';
		r = userdata_extract(rows[i].doc, strlen(rows[i].doc), &json, &n, &e);
		if (rows[i].error)
			CHECK(r == HAIL_E_USAGE && !json && strstr(e.msg, rows[i].error) &&
			      !strncmp(e.msg, "user-data: cloud-config", 23),
			      "cloud-config row %zu refused: %s", i, r ? e.msg : json);
		else if (rows[i].json)
			CHECK(r == 0 && json && !strcmp(json, rows[i].json) && n == strlen(json),
			      "cloud-config row %zu: %s", i, r ? e.msg : json ? json : "none");
		else
			CHECK(r == 0 && !json, "cloud-config row %zu: no settings", i);
		free(json);
	}
	/* 70 levels, more than CLOUDCONFIG_DEPTH_MAX */
	for (int i = 0; i < 70; i++)
		strcat(deep, "[");
	for (int i = 0; i < 70; i++)
		strcat(deep, "]");
	r = userdata_extract(deep, strlen(deep), &json, &n, &e);
	CHECK(r == HAIL_E_USAGE && strstr(e.msg, "nested more than 64"), "deep cloud-config: %s",
	      e.msg);
}

/* Nine anchors of nine aliases each: 9^9 nodes once expanded, 400 bytes. */
static void alias_bomb(void)
{
	char doc[1024] = "#cloud-config\nl0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n";
	struct hail_errbuf e;
	char *json;
	size_t n;
	int r;

	for (int i = 1; i <= 9; i++) {
		char row[128];
		int k = snprintf(row, sizeof(row), "l%d: &l%d [", i, i);

		for (int j = 0; j < 9; j++)
			k += snprintf(row + k, sizeof(row) - (size_t)k, "%s*l%d", j ? ", " : "", i - 1);
		snprintf(row + k, sizeof(row) - (size_t)k, "]\n");
		strcat(doc, row);
	}
	strcat(doc, "hail: {job-uri: *l9}\n");
	r = userdata_extract(doc, strlen(doc), &json, &n, &e);
	CHECK(r == HAIL_E_USAGE && !json && strstr(e.msg, "expand to more than 10000 nodes"),
	      "billion laughs refused: %s", r ? e.msg : "accepted");
}

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

	r = extract(mime_qp, strlen(mime_qp), &json);
	CHECK(r == 0 && json && !strcmp(json, QP_JSON), "MIME quoted-printable part from "
	      "Python's email package: %s", json ? json : "none");
	free(json);

	/* soft breaks with LF or CRLF, blanks after them, lower-case hex, and
	 * transport padding at a hard line end (RFC 2045 6.7) */
	{
		static const char qp[] = "{\"hail\": {\"job-uri\": =  \r\n\"https://h/job/=\n"
			"p/j/x\", \"x\": \"=3d=3D\"}}   \n";
		static const char want[] = "{\"hail\": {\"job-uri\": \"https://h/job/p/j/x\", "
			"\"x\": \"==\"}}";

		const char *m = mime_part("Quoted-Printable", qp);

		r = extract(m, strlen(m), &json);
		CHECK(r == 0 && json && !strcmp(json, want), "quoted-printable soft breaks, "
		      "lower-case hex: %s", json ? json : "none");
		free(json);
	}
	{
		static const char *const bad_qp[] = {
			"{\"hail\": {\"job-uri\": \"a=b\"}}",        /* = not hex */
			"{\"hail\": {\"job-uri\": \"a=3\"}}",        /* one digit */
			"{\"hail\": {\"job-uri\": \"a=\n=4\n\"}}",  /* one digit at line end */
			"{\"hail\": {\"job-uri\": \"a=G1\"}}",       /* G is not hex */
			"{\"hail\": {\"job-uri\": \"a= 3D\"}}",      /* blank inside */
		};

		for (size_t i = 0; i < sizeof(bad_qp) / sizeof(bad_qp[0]); i++) {
			struct hail_errbuf e;
			const char *m = mime_part("quoted-printable", bad_qp[i]);

			r = userdata_extract(m, strlen(m), &json, &n, &e);
			CHECK(r == HAIL_E_USAGE && !json && strstr(e.msg, "MIME part 1: malformed "
			      "quoted-printable on line") && !strchr(e.msg, '\n'),
			      "bad quoted-printable row %zu: %s", i, r ? e.msg : "accepted");
		}
	}

	{
		/* a bare "=" in someone else's part is not our error */
		static const char sloppy[] = "Content-Type: multipart/mixed; boundary=B\n\n--B\n"
			"Content-Type: text/cloud-config\n"
			"Content-Transfer-Encoding: quoted-printable\n\n"
			"#cloud-config\nruncmd: [\"a=b\"]\n--B\n"
			"Content-Transfer-Encoding: quoted-printable\n\n" HAIL_JSON "\n--B--\n";
		struct hail_errbuf e;
		const char *m = mime_part("quoted-printable", "=EF=BB=BF {\"hail\": \"a=b\"}");

		r = extract(sloppy, strlen(sloppy), &json);
		CHECK(r == 0 && json && !strcmp(json, HAIL_JSON), "bad quoted-printable in a "
		      "cloud-config part: skipped");
		free(json);
		r = userdata_extract(m, strlen(m), &json, &n, &e);
		CHECK(r == HAIL_E_USAGE && !json && strstr(e.msg, "MIME part 1: malformed"),
		      "bad quoted-printable after an encoded BOM: ours, refused");
	}

	/* a UTF-8 byte-order mark before the JSON: whole user-data, gzip'd,
	 * a plain part, a base64 part, a quoted-printable part */
	{
		static const char bom[] = "\xef\xbb\xbf" HAIL_JSON "\n";
		const char *m;

		r = extract(bom, strlen(bom), &json);
		CHECK(r == 0 && json && !strcmp(json, HAIL_JSON), "BOM before plain JSON");
		free(json);
		n = gzip(bom, strlen(bom), gz, sizeof(gz));
		r = extract(gz, n, &json);
		CHECK(r == 0 && json && !strcmp(json, HAIL_JSON), "BOM before gzip'd JSON");
		free(json);
		m = mime_part("7bit", bom);
		r = extract(m, strlen(m), &json);
		CHECK(r == 0 && json && !strcmp(json, HAIL_JSON), "BOM in a MIME part");
		free(json);
		/* base64 of the BOM and HAIL_JSON */
		m = mime_part("base64", "77u/eyJoYWlsIjogeyJqb2ItdXJpIjogImh0dHBzOi8vaC9qb2IvcC9q"
			      "L3gifX0=");
		r = extract(m, strlen(m), &json);
		CHECK(r == 0 && json && !strcmp(json, HAIL_JSON), "BOM in a base64 part");
		free(json);
		m = mime_part("quoted-printable", "=EF=BB=BF" HAIL_JSON);
		r = extract(m, strlen(m), &json);
		CHECK(r == 0 && json && !strcmp(json, HAIL_JSON), "BOM in a quoted-printable part");
		free(json);
		r = extract("\xef\xbb\xbf#cloud-config\n", 17, &json);
		CHECK(r == 0 && !json, "BOM before a cloud-config: not ours");
	}

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
	{
		struct hail_errbuf e;
		const char *m = mime_part("base64", "!!!notbase64!!!");

		r = userdata_extract(m, strlen(m), &json, &n, &e);
		CHECK(r == HAIL_E_USAGE && !json && strstr(e.msg, "MIME part 1: not valid base64"),
		      "bad base64 names the part: %s", r ? e.msg : "accepted");
	}
	{
		/* in MIME beside a script, gzip'd alone, and beside a JSON part */
		static const char cc[] = "#cloud-config\nhail:\n  job-uri: https://h/job/p/j/x\n";
		static const char mixed[] = "Content-Type: multipart/mixed; boundary=B\n\n--B\n"
			"Content-Type: text/x-shellscript\n\n#!/bin/sh\necho hi\n--B\n"
			"Content-Type: text/cloud-config\n\n#cloud-config\nhail:\n"
			"  job-uri: https://h/job/p/j/x\n--B--\n";
		static const char both[] = "Content-Type: multipart/mixed; boundary=B\n\n--B\n\n"
			HAIL_JSON "\n--B\nContent-Type: text/cloud-config\n\n#cloud-config\n"
			"hail: {profile: x}\n--B--\n";
		static const char broken[] = "Content-Type: multipart/mixed; boundary=B\n\n--B\n"
			"Content-Type: text/cloud-config\n\n#cloud-config\nhail: [\n--B--\n";
		static const char expect[] = "{\"hail\":{\"job-uri\":\"https://h/job/p/j/x\"}}";
		char packed[512];
		size_t gzn = gzip(cc, strlen(cc), packed, sizeof(packed));
		struct hail_errbuf e;

		r = extract(mixed, strlen(mixed), &json);
		CHECK(r == 0 && json && !strcmp(json, expect), "cloud-config in MIME beside a script");
		free(json);
		r = extract(packed, gzn, &json);
		CHECK(r == 0 && json && !strcmp(json, expect), "gzip'd cloud-config");
		free(json);
		r = extract(both, strlen(both), &json);
		CHECK(r == HAIL_E_USAGE && !json, "JSON part and cloud-config part both with hail");
		r = userdata_extract(broken, strlen(broken), &json, &n, &e);
		CHECK(r == HAIL_E_USAGE && !json &&
		      !strncmp(e.msg, "user-data: MIME part 1: cloud-config line ", 42),
		      "a broken cloud-config part names the part: %s", e.msg);
	}
	cloud_config_cases();
	alias_bomb();
	return check_exit();
}
