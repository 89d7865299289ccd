#include "url.h"

#include <curl/curl.h>
#include <stdbool.h>
#include <string.h>

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

static bool is_loopback(const char *host)
{
	return !strcmp(host, "localhost") || !strcmp(host, "[::1]") ||
		!strncmp(host, "127.", 4);
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
	    curl_url_get(u, CURLUPART_QUERY, &part, 0) == CURLUE_OK ||
	    curl_url_get(u, CURLUPART_FRAGMENT, &part, 0) == CURLUE_OK)
		goto out;
	ok = !strcmp(scheme, "https") || (!strcmp(scheme, "http") && is_loopback(host));
out:
	curl_free(part);
	curl_free(host);
	curl_free(scheme);
	curl_url_cleanup(u);
	return ok;
}
