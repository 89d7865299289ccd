#include "url.h"

#include <curl/curl.h>
#include <stdbool.h>
#include <string.h>
#include <strings.h>

bool url_is_http(const char *url)
{
	char *scheme = NULL;
	CURLU *u = curl_url();
	bool ok;

	/* unknown schemes parse here so that the check below refuses them */
	ok = u && curl_url_set(u, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME) == CURLUE_OK &&
	     curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
	     (!strcmp(scheme, "http") || !strcmp(scheme, "https"));
	curl_free(scheme);
	curl_url_cleanup(u);
	return ok;
}

/* A decimal part of a dotted IPv4 literal: 1 to 3 digits, no leading zero
 * (a resolver may read "0177" as octal), at most 255. */
static bool ipv4_part(const char *s, size_t n, unsigned *v)
{
	if (n < 1 || n > 3 || (n > 1 && s[0] == '0'))
		return false;
	*v = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		*v = *v * 10 + (unsigned)(s[i] - '0');
	}
	return *v <= 255;
}

/* Exactly four numeric parts, the first 127 (127.0.0.0/8). A name that only
 * starts like one ("127.example.net", "127.0.0.1.nip.io") is DNS's to answer,
 * and DNS can point it anywhere. */
static bool is_ipv4_loopback(const char *host)
{
	const char *p = host;
	unsigned v, first = 0;

	for (int i = 0; i < 4; i++) {
		size_t n = strcspn(p, ".");

		if (!ipv4_part(p, n, &v) || (i < 3) != (p[n] == '.'))
			return false;
		if (i == 0)
			first = v;
		p += n + (i < 3);
	}
	return *p == '\0' && first == 127;
}

/* host as curl_url() gives it (IPv6 in brackets, IPv4 normalized). */
static bool is_loopback(const char *host)
{
	return !strcasecmp(host, "localhost") || !strcmp(host, "[::1]") ||
		is_ipv4_loopback(host);
}

bool url_is_secure_endpoint(const char *url)
{
	char *scheme = NULL, *host = NULL, *part = NULL;
	CURLU *u = curl_url();
	bool ok = false;

	if (!u || curl_url_set(u, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK)
		goto out;
	if (curl_url_get(u, CURLUPART_USER, &part, 0) == CURLUE_OK ||
	    curl_url_get(u, CURLUPART_PASSWORD, &part, 0) == CURLUE_OK ||
	    curl_url_get(u, CURLUPART_QUERY, &part, 0) == CURLUE_OK ||
	    curl_url_get(u, CURLUPART_FRAGMENT, &part, 0) == CURLUE_OK ||
	    curl_url_get(u, CURLUPART_ZONEID, &part, 0) == CURLUE_OK)
		goto out;
	ok = !strcmp(scheme, "https") || (!strcmp(scheme, "http") && is_loopback(host));
out:
	curl_free(part);
	curl_free(host);
	curl_free(scheme);
	curl_url_cleanup(u);
	return ok;
}
