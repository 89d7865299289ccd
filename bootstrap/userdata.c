#include "userdata.h"

#include <cJSON.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>

#include "cloudconfig.h"

#define MIME_PARTS_MAX 32

/* A bounded view of bytes. */
struct span {
	const char *p;
	size_t n;
};

static int gunzip(const char *data, size_t len, char *out, size_t *out_len,
		  struct hail_errbuf *e)
{
	z_stream z = { 0 };
	int r;

	/* 16 + MAX_WBITS: a gzip header, not zlib's */
	if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK)
		return hail_fail(e, HAIL_E_INTERNAL, "user-data: cannot start zlib");
	z.next_in = (unsigned char *)data;
	z.avail_in = (unsigned)len;
	z.next_out = (unsigned char *)out;
	z.avail_out = USERDATA_MAX;
	r = inflate(&z, Z_FINISH);
	*out_len = USERDATA_MAX - z.avail_out;
	inflateEnd(&z);
	if (r == Z_STREAM_END)
		return 0;
	if (z.avail_out == 0)
		return hail_fail(e, HAIL_E_USAGE, "user-data: larger than %d bytes after gzip "
				 "decompression", USERDATA_MAX);
	return hail_fail(e, HAIL_E_USAGE, "user-data: corrupt or truncated gzip data");
}

static struct span trim(struct span s)
{
	while (s.n && strchr(" \t\r\n", s.p[0]))
		s.p++, s.n--;
	while (s.n && strchr(" \t\r\n", s.p[s.n - 1]))
		s.n--;
	return s;
}

/* Skips a UTF-8 byte-order mark: editors on Windows (Notepad, PowerShell's
 * Set-Content -Encoding UTF8) put one before the text, and JSON parsers,
 * cJSON among them, refuse it (RFC 8259 section 8.1 lets a parser ignore it). */
static struct span skip_bom(struct span s)
{
	if (s.n >= 3 && !memcmp(s.p, "\xef\xbb\xbf", 3))
		s.p += 3, s.n -= 3;
	return s;
}

static bool starts_with_ci(struct span s, const char *prefix)
{
	size_t n = strlen(prefix);

	return s.n >= n && strncasecmp(s.p, prefix, n) == 0;
}

/* Is s a JSON object with a top-level "hail" key? -1: not JSON at all. */
static int is_hail_json(struct span s)
{
	cJSON *root = cJSON_ParseWithLength(s.p, s.n);
	int r;

	if (!root)
		return -1;
	r = cJSON_IsObject(root) && cJSON_GetObjectItemCaseSensitive(root, "hail");
	cJSON_Delete(root);
	return r;
}

/* Next line of s from *pos (without its \r\n or \n); false at the end. */
static bool next_line(struct span s, size_t *pos, struct span *line)
{
	const char *nl;

	if (*pos >= s.n)
		return false;
	line->p = s.p + *pos;
	nl = memchr(line->p, '\n', s.n - *pos);
	line->n = nl ? (size_t)(nl - line->p) : s.n - *pos;
	*pos += line->n + (nl ? 1 : 0);
	if (line->n && line->p[line->n - 1] == '\r')
		line->n--;
	return true;
}

/* Reads a header block (up to the empty line); fills the two headers hail
 * cares about. Folded (continued) header lines are joined by skipping. */
static void read_headers(struct span s, size_t *pos, struct span *ctype, struct span *cte)
{
	struct span line, *last = NULL;

	ctype->n = cte->n = 0;
	while (next_line(s, pos, &line) && line.n) {
		if ((line.p[0] == ' ' || line.p[0] == '\t') && last) {
			/* a folded line continues the last header */
			last->n = (size_t)(line.p + line.n - last->p);
			continue;
		}
		last = NULL;
		if (starts_with_ci(line, "content-type:")) {
			*ctype = (struct span){ line.p + 13, line.n - 13 };
			last = ctype;
		} else if (starts_with_ci(line, "content-transfer-encoding:")) {
			*cte = (struct span){ line.p + 26, line.n - 26 };
			last = cte;
		}
	}
}

/* The boundary parameter of a Content-Type, quoted or not. */
static bool find_boundary(struct span ctype, char *out, size_t size)
{
	const char *p = NULL;
	size_t n = 0;

	for (size_t i = 0; i + 9 <= ctype.n; i++)
		if (!strncasecmp(ctype.p + i, "boundary=", 9)) {
			p = ctype.p + i + 9;
			n = ctype.n - i - 9;
			break;
		}
	if (!p)
		return false;
	if (n && *p == '"') {
		const char *q = memchr(p + 1, '"', n - 1);

		if (!q)
			return false;
		n = (size_t)(q - p - 1);
		p++;
	} else {
		size_t k = 0;

		while (k < n && !strchr(" \t;", p[k]))
			k++;
		n = k;
	}
	/* RFC 2046: 1 to 70 characters */
	if (n == 0 || n > 70 || n + 1 > size)
		return false;
	memcpy(out, p, n);
	out[n] = '\0';
	return true;
}

static bool is_delimiter(struct span line, const char *boundary, bool *final)
{
	size_t b = strlen(boundary);
	struct span rest;

	if (line.n < b + 2 || line.p[0] != '-' || line.p[1] != '-' || memcmp(line.p + 2, boundary, b))
		return false;
	rest = trim((struct span){ line.p + 2 + b, line.n - 2 - b });
	*final = rest.n == 2 && rest.p[0] == '-' && rest.p[1] == '-';
	return rest.n == 0 || *final;
}

/* Decodes base64 part number part into out (at most USERDATA_MAX bytes). */
static int base64_part(struct span body, size_t part, char *out, size_t *out_len,
		       struct hail_errbuf *e)
{
	EVP_ENCODE_CTX *ctx = EVP_ENCODE_CTX_new();
	int n1 = 0, n2 = 0, ret = 0;

	if (!ctx)
		return hail_fail(e, HAIL_E_INTERNAL, "out of memory");
	/* base64 never grows: len*3/4 <= len <= USERDATA_MAX */
	EVP_DecodeInit(ctx);
	if (EVP_DecodeUpdate(ctx, (unsigned char *)out, &n1, (const unsigned char *)body.p,
			     (int)body.n) < 0 ||
	    EVP_DecodeFinal(ctx, (unsigned char *)out + n1, &n2) < 0)
		ret = hail_fail(e, HAIL_E_USAGE, "user-data: MIME part %zu: not valid base64", part);
	EVP_ENCODE_CTX_free(ctx);
	*out_len = (size_t)(n1 + n2);
	return ret;
}

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;    /* RFC 2045 6.7: a robust decoder takes lower case */
	return -1;
}

/* Decodes quoted-printable part number part (RFC 2045 section 6.7) into out,
 * at most size bytes: "=XX" is the byte 0xXX, "=" at the end of a line (then
 * perhaps blanks) is a soft line break that joins it to the next, blanks at
 * the end of a line are transport padding and go. Python's email package
 * picks this encoding for a text part with lines over 78 characters, which a
 * one-line JSON document always has. The error names the line, never its
 * text: a password may be on it. */
static int qp_part(struct span body, size_t part, char *out, size_t size, size_t *out_len,
		   struct hail_errbuf *e)
{
	struct span line;
	size_t pos = 0, n = 0, lineno = 0;

	while (next_line(body, &pos, &line)) {
		bool soft = false, had_newline = line.p + line.n < body.p + pos;

		lineno++;
		while (line.n && (line.p[line.n - 1] == ' ' || line.p[line.n - 1] == '\t'))
			line.n--;
		for (size_t i = 0; i < line.n; i++) {
			char c = line.p[i];

			if (c == '=') {
				int hi, lo;

				if (i + 1 == line.n) {
					soft = true;
					break;
				}
				hi = i + 2 < line.n ? hex_digit(line.p[i + 1]) : -1;
				lo = i + 2 < line.n ? hex_digit(line.p[i + 2]) : -1;
				if (hi < 0 || lo < 0)
					return hail_fail(e, HAIL_E_USAGE, "user-data: MIME part %zu: "
							 "malformed quoted-printable on line %zu (an "
							 "'=' not followed by two hex digits or the end "
							 "of the line)", part, lineno);
				c = (char)(hi << 4 | lo);
				i += 2;
			}
			if (n == size)
				goto too_big;
			out[n++] = c;
		}
		if (!soft && had_newline) {
			if (n == size)
				goto too_big;
			out[n++] = '\n';
		}
	}
	*out_len = n;
	return 0;
too_big:
	return hail_fail(e, HAIL_E_USAGE, "user-data: MIME part %zu: larger than %zu bytes "
			 "after quoted-printable decoding", part, size);
}

/* Could an encoded part hold a JSON object (perhaps after a byte-order mark)?
 * A quoted-printable part that is not valid is refused only then: a sloppy
 * #cloud-config part with a bare "=" is cloud-init's to judge, not ours. */
static bool may_be_json(struct span raw)
{
	raw = trim(skip_bom(trim(raw)));
	if (starts_with_ci(raw, "=EF=BB=BF"))
		raw = trim((struct span){ raw.p + 9, raw.n - 9 });
	return raw.n && raw.p[0] == '{';
}

static int take(struct span s, char **json, size_t *json_len, struct hail_errbuf *e)
{
	*json = malloc(s.n + 1);
	if (!*json)
		return hail_fail(e, HAIL_E_INTERNAL, "out of memory");
	memcpy(*json, s.p, s.n);
	(*json)[s.n] = '\0';
	*json_len = s.n;
	return 0;
}

/* "user-data: X" becomes "user-data: MIME part N: X". */
static void part_context(struct hail_errbuf *e, size_t part)
{
	static const char prefix[] = "user-data: ";
	char reason[sizeof(e->msg) - 32];

	if (strncmp(e->msg, prefix, sizeof(prefix) - 1))
		return;
	snprintf(reason, sizeof(reason), "%s", e->msg + sizeof(prefix) - 1);
	snprintf(e->msg, sizeof(e->msg), "%sMIME part %zu: %s", prefix, part, reason);
}

static int from_mime(struct span s, char **json, size_t *json_len, struct hail_errbuf *e)
{
	struct span ctype, cte, line, part;
	char boundary[72], *decoded = NULL;
	size_t pos = 0, parts = 0;
	bool final = false, found = false;
	int ret = 0;

	read_headers(s, &pos, &ctype, &cte);
	ctype = trim(ctype);
	if (!starts_with_ci(ctype, "multipart/") || !find_boundary(ctype, boundary, sizeof(boundary)))
		return hail_fail(e, HAIL_E_USAGE, "user-data: MIME without a multipart "
				 "Content-Type and boundary");
	/* the preamble, up to the first delimiter */
	while (next_line(s, &pos, &line) && !is_delimiter(line, boundary, &final))
		;
	decoded = malloc(USERDATA_MAX + 1);
	if (!decoded)
		return hail_fail(e, HAIL_E_INTERNAL, "out of memory");
	while (!final && pos < s.n) {
		size_t body_start, body_end;

		if (++parts > MIME_PARTS_MAX) {
			ret = hail_fail(e, HAIL_E_USAGE, "user-data: more than %d MIME parts",
					MIME_PARTS_MAX);
			goto out;
		}
		read_headers(s, &pos, &ctype, &cte);
		body_start = body_end = pos;
		for (;;) {
			size_t line_start = pos;

			if (!next_line(s, &pos, &line)) {
				ret = hail_fail(e, HAIL_E_USAGE, "user-data: MIME part %zu has no "
						"closing boundary", parts);
				goto out;
			}
			if (is_delimiter(line, boundary, &final)) {
				body_end = line_start;
				break;
			}
		}
		part = (struct span){ s.p + body_start, body_end - body_start };
		/* 7bit, 8bit and binary are the text as it is */
		cte = trim(cte);
		if (starts_with_ci(cte, "base64") || starts_with_ci(cte, "quoted-printable")) {
			size_t n = 0;

			if (starts_with_ci(cte, "base64")) {
				ret = base64_part(part, parts, decoded, &n, e);
			} else {
				ret = qp_part(part, parts, decoded, USERDATA_MAX, &n, e);
				if (ret < 0 && !may_be_json(part)) {
					ret = 0;
					continue;
				}
			}
			if (ret < 0)
				goto out;
			part = (struct span){ decoded, n };
		}
		part = trim(skip_bom(trim(part)));
		if (part.n && part.p[0] == '{' && is_hail_json(part) == 1) {
			if (found)
				goto twice;
			ret = take(part, json, json_len, e);
			if (ret < 0)
				goto out;
			found = true;
		} else if (cloudconfig_is(part.p, part.n) ||
			   starts_with_ci(trim(ctype), "text/cloud-config")) {
			char *yaml_json = NULL;
			size_t yaml_len = 0;

			ret = cloudconfig_extract(part.p, part.n, &yaml_json, &yaml_len, e);
			if (ret < 0) {
				part_context(e, parts);
				goto out;
			}
			if (!yaml_json)
				continue;
			if (found) {
				free(yaml_json);
				goto twice;
			}
			*json = yaml_json;
			*json_len = yaml_len;
			found = true;
		}
	}
	goto out;
twice:
	ret = hail_fail(e, HAIL_E_USAGE, "user-data: more than one MIME part holds hail settings");
	free(*json);
	*json = NULL;
out:
	free(decoded);
	return ret;
}

int userdata_extract(const char *data, size_t len, char **json, size_t *json_len,
		     struct hail_errbuf *e)
{
	struct span s = { data, len };
	char *plain = NULL;
	size_t plain_len = 0;
	int ret = 0;

	*json = NULL;
	*json_len = 0;
	if (len > USERDATA_MAX)
		return hail_fail(e, HAIL_E_USAGE, "user-data: larger than %d bytes", USERDATA_MAX);
	if (len >= 2 && (unsigned char)data[0] == 0x1f && (unsigned char)data[1] == 0x8b) {
		plain = malloc(USERDATA_MAX + 1);
		if (!plain)
			return hail_fail(e, HAIL_E_INTERNAL, "out of memory");
		ret = gunzip(data, len, plain, &plain_len, e);
		if (ret < 0)
			goto out;
		s = (struct span){ plain, plain_len };
	}
	s = trim(skip_bom(trim(s)));
	if (s.n && s.p[0] == '{') {
		int r = is_hail_json(s);

		if (r < 0)
			ret = hail_fail(e, HAIL_E_USAGE, "user-data: looks like JSON but does not parse");
		else if (r == 1)
			ret = take(s, json, json_len, e);
	} else if (starts_with_ci(s, "content-type:") || starts_with_ci(s, "mime-version:")) {
		ret = from_mime(s, json, json_len, e);
	} else if (cloudconfig_is(s.p, s.n)) {
		ret = cloudconfig_extract(s.p, s.n, json, json_len, e);
	}
	/* anything else (#!, #include, ...) is cloud-init's, not ours */
out:
	free(plain);
	return ret;
}
