/* URL checks with libcurl's own parser (curl_url), so that what we accept
 * is exactly what libcurl will later request. */
#ifndef HAIL_URL_H
#define HAIL_URL_H

#include <stdbool.h>

/* True when url parses and its scheme is http or https. */
bool url_is_http(const char *url);

/* True for an endpoint fit to receive signed AWS requests, whose headers
 * carry the session token: https, or http to this machine only (tests, a
 * local proxy); no user:password, query, fragment or IPv6 zone. "This
 * machine" is the host localhost, [::1] or a dotted IPv4 literal in
 * 127.0.0.0/8 (four decimal parts), never a name that merely starts with
 * "127.". */
bool url_is_secure_endpoint(const char *url);

#endif
