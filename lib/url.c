#include "url.h"

#include <curl/curl.h>
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
