#include "hydra.h"

#include <cJSON.h>
#include <curl/curl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"
#include "storepath.h"
#include "strutil.h"

#define ESCAPED_MAX 200
#define JSON_EXACT_MAX 9007199254740991.0   /* 2^53 - 1: every integer up to it is exact */
#define STOPTIME_MAX 1e12                   /* year 33658: anything later is junk */

void hydra_job_clear(struct hydra_job *job)
{
	free(job->uri);
	free(job->base);
	free(job->latest_url);
	free(job->moved_uri);
	memset(job, 0, sizeof(*job));
}

void hydra_build_clear(struct hydra_build *build)
{
	free(build->out_path);
	free(build->job_name);
	memset(build, 0, sizeof(*build));
}

/* The segment that starts at seg, up to the next '/', is "job". */
static bool is_job_segment(const char *seg)
{
	return !strncmp(seg, "job", 3) && (seg[3] == '/' || seg[3] == '\0');
}

/* In the path of a job URI, PREFIX/job/PROJECT/JOBSET/JOB: finds the "/job/"
 * that has exactly three non-empty segments after it (a project may itself
 * be called "job"). Returns NULL when there is none. */
static const char *find_job_segment(const char *path)
{
	const char *p = path + strlen(path);

	for (int n = 0; n < 4; n++) {
		const char *end = p;

		while (p > path && p[-1] != '/')
			p--;
		if (p == path || p == end)
			return NULL;    /* no leading '/' or an empty segment */
		if (end - p <= 2 && p[0] == '.' && (end - p == 1 || p[1] == '.'))
			return NULL;    /* "." or ".." */
		p--;                    /* onto the '/' */
	}
	return is_job_segment(p + 1) ? p : NULL;
}

/* A job URI from a flag or a file: never logged with credentials, so any
 * user:password in it is refused rather than echoed. */
static int check_uri_parts(CURLU *u, const char *shown, struct hail_errbuf *e)
{
	char *part = NULL;
	int ret = 0;

	if (curl_url_get(u, CURLUPART_SCHEME, &part, 0) != CURLUE_OK ||
	    (strcmp(part, "http") && strcmp(part, "https")))
		ret = hail_fail(e, HAIL_E_USAGE, "job-uri '%s': scheme must be http or https", shown);
	curl_free(part);
	part = NULL;
	if (!ret && curl_url_get(u, CURLUPART_HOST, &part, 0) != CURLUE_OK)
		ret = hail_fail(e, HAIL_E_USAGE, "job-uri '%s': no host", shown);
	curl_free(part);
	part = NULL;
	if (!ret && (curl_url_get(u, CURLUPART_USER, &part, 0) == CURLUE_OK ||
		     curl_url_get(u, CURLUPART_PASSWORD, &part, 0) == CURLUE_OK))
		ret = hail_fail(e, HAIL_E_USAGE, "job-uri: credentials in the URI are not "
				"allowed; put them in the netrc file");
	curl_free(part);
	part = NULL;
	if (!ret && (curl_url_get(u, CURLUPART_QUERY, &part, 0) == CURLUE_OK ||
		     curl_url_get(u, CURLUPART_FRAGMENT, &part, 0) == CURLUE_OK))
		ret = hail_fail(e, HAIL_E_USAGE, "job-uri '%s': no query or fragment allowed", shown);
	curl_free(part);
	return ret;
}

int hydra_job_parse(const char *uri, struct hydra_job *job, struct hail_errbuf *e)
{
	char shown[ESCAPED_MAX], *norm = NULL, *path;
	const char *job_seg;
	CURLU *u = NULL;
	size_t len;
	int ret;

	memset(job, 0, sizeof(*job));
	str_escape(shown, sizeof(shown), uri, strlen(uri));
	if (strchr(uri, '@')) {
		/* may be user:password@host: do not echo it */
		snprintf(shown, sizeof(shown), "(not shown: it has an '@')");
	}
	u = curl_url();
	if (!u)
		return hail_fail(e, HAIL_E_INTERNAL, "out of memory");
	/* unknown schemes pass here so that the check below can name them */
	if (curl_url_set(u, CURLUPART_URL, uri, CURLU_NON_SUPPORT_SCHEME) != CURLUE_OK) {
		ret = hail_fail(e, HAIL_E_USAGE, "job-uri '%s': not a valid URL", shown);
		goto out;
	}
	ret = check_uri_parts(u, shown, e);
	if (ret < 0)
		goto out;
	if (curl_url_get(u, CURLUPART_URL, &norm, 0) != CURLUE_OK) {
		ret = hail_fail(e, HAIL_E_USAGE, "job-uri '%s': not a valid URL", shown);
		goto out;
	}
	len = strlen(norm);
	while (len > 0 && norm[len - 1] == '/')
		norm[--len] = '\0';
	path = strstr(norm, "://");
	path = path ? strchr(path + 3, '/') : NULL;
	job_seg = path ? find_job_segment(path) : NULL;
	if (!job_seg) {
		ret = hail_fail(e, HAIL_E_USAGE, "job-uri '%s': expected "
				"http(s)://HOST/job/PROJECT/JOBSET/JOB", shown);
		goto out;
	}
	job->uri = strdup(norm);
	job->base = strndup(norm, (size_t)(job_seg - norm));
	job->latest_url = str_concat(norm, "/latest", NULL);
	if (!job->uri || !job->base || !job->latest_url) {
		hydra_job_clear(job);
		ret = hail_fail(e, HAIL_E_INTERNAL, "out of memory");
		goto out;
	}
	ret = 0;
out:
	curl_free(norm);
	curl_url_cleanup(u);
	return ret;
}

/* The path of an absolute http(s) URL: what follows "scheme://authority",
 * up to "?" or "#"; NULL when url is not one, or holds a space or a control
 * character. libcurl's CURLINFO_REDIRECT_URL is absolute already, and a
 * whole URL parse (curl_url) per idle poll cost more than the rest of the
 * poll's own work. */
static const char *url_path(const char *url, size_t *len)
{
	const char *p;

	for (p = url; *p; p++)
		if ((unsigned char)*p <= ' ' || *p == 0x7f)
			return NULL;
	if (!strncasecmp(url, "http://", 7))
		p = url + 7;
	else if (!strncasecmp(url, "https://", 8))
		p = url + 8;
	else
		return NULL;
	if (!*p || strchr("/?#", *p))
		return NULL;    /* no authority */
	p += strcspn(p, "/?#");
	if (*p != '/')
		return NULL;
	*len = strcspn(p, "?#");
	return p;
}

int hydra_parse_build_location(const char *location, uint64_t *id, struct hail_errbuf *e)
{
	char shown[ESCAPED_MAX], digits[24];
	const char *path, *last;
	unsigned long long v;
	size_t len;

	path = url_path(location, &len);
	if (!path) {
		str_escape(shown, sizeof(shown), location, strlen(location));
		return hail_fail(e, HAIL_E_PROTOCOL, "Location '%s' is not a URL", shown);
	}
	last = path + len;
	while (last > path && last[-1] != '/')
		last--;
	/* .../build/ID, ID a positive integer */
	if (last - path < 7 || memcmp(last - 7, "/build/", 7) != 0 ||
	    (size_t)(path + len - last) >= sizeof(digits)) {
		/* escaped only here: an idle poll comes through this function */
		str_escape(shown, sizeof(shown), location, strlen(location));
		return hail_fail(e, HAIL_E_PROTOCOL, "Location '%s' is not a Hydra build URL", shown);
	}
	memcpy(digits, last, (size_t)(path + len - last));
	digits[path + len - last] = '\0';
	if (str_to_u64(digits, 1, INT64_MAX, &v) < 0) {
		str_escape(shown, sizeof(shown), location, strlen(location));
		return hail_fail(e, HAIL_E_PROTOCOL, "Location '%s' is not a Hydra build URL", shown);
	}
	*id = v;
	return 0;
}

/* A JSON number that is an integer in [0, max], max at most 2^53 - 1. The range
 * is checked before the cast: casting an out-of-range double (1e300) to an
 * integer type is undefined behaviour. 1.5 is not an integer; 1.0 is. */
static bool json_uint(const cJSON *v, double max, uint64_t *out)
{
	double d;

	if (!cJSON_IsNumber(v))
		return false;
	d = v->valuedouble;
	if (!(d >= 0 && d <= max) || (double)(uint64_t)d != d)
		return false;       /* also NaN, which fails every comparison */
	*out = (uint64_t)d;
	return true;
}

/* finished and buildstatus are integers in practice and booleans in the
 * OpenAPI document (protocols.md): take either. */
static bool json_is_one(const cJSON *v)
{
	uint64_t n;

	return cJSON_IsTrue(v) || (json_uint(v, 1, &n) && n == 1);
}

/* "PROJECT/JOBSET/JOB" from the build JSON, or NULL when a part is missing
 * or could not be part of a job URI. */
static char *job_name(const cJSON *root)
{
	static const char *const keys[] = { "project", "jobset", "job" };
	const char *part[3];
	char name[3 * 256 + 3];

	for (size_t i = 0; i < 3; i++) {
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, keys[i]);

		if (!cJSON_IsString(v) || !v->valuestring[0] || strlen(v->valuestring) > 255)
			return NULL;
		/* what could not be in a job URI, nor forge a log line */
		for (const unsigned char *c = (const unsigned char *)v->valuestring; *c; c++)
			if (*c <= ' ' || *c == 0x7f || strchr("/?#%", *c))
				return NULL;
		part[i] = v->valuestring;
	}
	snprintf(name, sizeof(name), "%s/%s/%s", part[0], part[1], part[2]);
	return strdup(name);
}

/* Does job URI uri end in "/job/" name? */
static bool uri_names_job(const char *uri, const char *name)
{
	size_t n = strlen(name), u = strlen(uri);

	return u > n + 5 && !memcmp(uri + u - n - 5, "/job/", 5) && !strcmp(uri + u - n, name);
}

bool hydra_build_of_job(const struct hydra_build *build, const struct hydra_job *job)
{
	if (!build->job_name)
		return false;       /* cannot tell: not good enough for a pin */
	/* after a rename, the builds name the new jobset */
	return uri_names_job(job->uri, build->job_name) ||
		(job->moved_uri && uri_names_job(job->moved_uri, build->job_name));
}

int hydra_parse_build_json(const char *body, size_t len, uint64_t id,
			   struct hydra_build *build, struct hail_errbuf *e)
{
	const cJSON *outputs, *out, *path, *v;
	char shown[ESCAPED_MAX];
	const char *why = NULL;
	const char *end = NULL;
	cJSON *root;
	uint64_t n;
	int ret;

	memset(build, 0, sizeof(*build));
	root = cJSON_ParseWithLengthOpts(body, len, &end, 0);
	if (!root)
		return hail_fail(e, HAIL_E_PROTOCOL, "build %" PRIu64 ": not JSON (at byte %zu of %zu)",
				 id, end ? (size_t)(end - body) : 0, len);
	if (!cJSON_IsObject(root)) {
		ret = hail_fail(e, HAIL_E_PROTOCOL, "build %" PRIu64 ": not a JSON object", id);
		goto out;
	}
	v = cJSON_GetObjectItemCaseSensitive(root, "id");
	if (v && !(json_uint(v, JSON_EXACT_MAX, &n) && n == id)) {
		ret = hail_fail(e, HAIL_E_PROTOCOL, "build %" PRIu64 ": JSON is of another build", id);
		goto out;
	}
	v = cJSON_GetObjectItemCaseSensitive(root, "finished");
	if (v && !json_is_one(v)) {
		ret = hail_fail(e, HAIL_E_PROTOCOL, "build %" PRIu64 ": not finished", id);
		goto out;
	}
	v = cJSON_GetObjectItemCaseSensitive(root, "buildstatus");
	if (v && !(json_uint(v, 0, &n) && n == 0)) {
		ret = hail_fail(e, HAIL_E_PROTOCOL, "build %" PRIu64 ": did not succeed", id);
		goto out;
	}
	outputs = cJSON_GetObjectItemCaseSensitive(root, "buildoutputs");
	out = cJSON_IsObject(outputs) ? cJSON_GetObjectItemCaseSensitive(outputs, "out") : NULL;
	path = cJSON_IsObject(out) ? cJSON_GetObjectItemCaseSensitive(out, "path") : NULL;
	if (cJSON_IsNull(path)) {
		/* Build.pm: a content-addressed derivation's output path is
		 * known only once it is built and registered (protocols.md) */
		ret = hail_fail(e, HAIL_E_PROTOCOL, "build %" PRIu64 ": output path not known yet "
				"(buildoutputs.out.path is null: a content-addressed derivation?)", id);
		goto out;
	}
	if (!cJSON_IsString(path)) {
		ret = hail_fail(e, HAIL_E_PROTOCOL, "build %" PRIu64 ": no buildoutputs.out.path", id);
		goto out;
	}
	if (!storepath_valid(path->valuestring, strlen(path->valuestring), &why)) {
		str_escape(shown, sizeof(shown), path->valuestring, strlen(path->valuestring));
		ret = hail_fail(e, HAIL_E_PROTOCOL, "build %" PRIu64 ": output '%s' is not a store path: %s",
				id, shown, why);
		goto out;
	}
	/* only a rollout's start hangs on it: one that is not a plausible
	 * integer time counts as not given, not as a broken build */
	v = cJSON_GetObjectItemCaseSensitive(root, "stoptime");
	if (json_uint(v, STOPTIME_MAX, &n) && n > 0)
		build->stoptime = (int64_t)n;
	build->job_name = job_name(root);
	build->out_path = strdup(path->valuestring);
	if (!build->out_path) {
		ret = hail_fail(e, HAIL_E_INTERNAL, "out of memory");
		goto out;
	}
	build->id = id;
	ret = 0;
out:
	if (ret < 0)
		hydra_build_clear(build);
	cJSON_Delete(root);
	return ret;
}

/* Turns an answer we did not want into one reason. */
static int unexpected_status(const char *url, long status, struct hail_errbuf *e)
{
	if (status == 401 || status == 403)
		return hail_fail(e, HAIL_E_HTTP, "GET %s: HTTP %ld (check the netrc credentials "
				 "for this host)", url, status);
	return hail_fail(e, HAIL_E_HTTP, "GET %s: HTTP %ld", url, status);
}

static const char *const accept_json[] = { "Accept: application/json", NULL };

/* Same scheme, host and port (the scheme's default when none is given). */
static bool same_origin(CURLU *a, CURLU *b)
{
	static const CURLUPart parts[] = { CURLUPART_SCHEME, CURLUPART_HOST, CURLUPART_PORT };
	bool same = true;

	for (size_t i = 0; same && i < sizeof(parts) / sizeof(parts[0]); i++) {
		char *x = NULL, *y = NULL;

		same = curl_url_get(a, parts[i], &x, CURLU_DEFAULT_PORT) == CURLUE_OK &&
			curl_url_get(b, parts[i], &y, CURLU_DEFAULT_PORT) == CURLUE_OK &&
			!strcasecmp(x, y);
		curl_free(x);
		curl_free(y);
	}
	return same;
}

/* A 301 from url (job->uri + suffix): the new job URI, read from location,
 * when it is a job URI on the same scheme, host and port whose request URL
 * ends in the same suffix ("/latest", "/latest-finished"). Hydra's
 * Location names Hydra's own idea of its base, so behind a proxy that
 * changes the scheme or host this refuses, as it must for any other host. */
static int moved_job(const struct hydra_job *job, const char *url, const char *location,
		     char **new_uri, struct hail_errbuf *e)
{
	const char *suffix = job->latest_url + strlen(job->uri);
	char shown[ESCAPED_MAX], *norm = NULL, *cand = NULL;
	struct hydra_job moved = { 0 };
	struct hail_errbuf why;
	CURLU *old = curl_url(), *loc = curl_url();
	size_t n, k = strlen(suffix);
	int ret;

	*new_uri = NULL;
	str_escape(shown, sizeof(shown), location, strlen(location));
	if (!old || !loc) {
		ret = hail_fail(e, HAIL_E_INTERNAL, "out of memory");
		goto out;
	}
	if (curl_url_set(old, CURLUPART_URL, job->uri, 0) != CURLUE_OK ||
	    curl_url_set(loc, CURLUPART_URL, location, 0) != CURLUE_OK ||
	    !same_origin(old, loc)) {
		ret = hail_fail(e, HAIL_E_PROTOCOL, "GET %s: HTTP 301 to '%s', not on the job "
				"URI's scheme, host and port: not followed (the job moved? update "
				"job-uri)", url, shown);
		goto out;
	}
	if (curl_url_get(loc, CURLUPART_URL, &norm, 0) != CURLUE_OK) {
		ret = hail_fail(e, HAIL_E_INTERNAL, "out of memory");
		goto out;
	}
	n = strlen(norm);
	cand = n > k && !strcmp(norm + n - k, suffix) ? strndup(norm, n - k) : NULL;
	if (!cand || hydra_job_parse(cand, &moved, &why) < 0) {
		ret = hail_fail(e, HAIL_E_PROTOCOL, "GET %s: HTTP 301 to '%s', which is not "
				"a job's %s URL: not followed", url, shown, suffix + 1);
		goto out;
	}
	*new_uri = moved.uri;       /* taken over */
	moved.uri = NULL;
	ret = 0;
out:
	hydra_job_clear(&moved);
	free(cand);
	curl_free(norm);
	curl_url_cleanup(loc);
	curl_url_cleanup(old);
	return ret;
}

/* Keeps the URI a 301 named, and warns when it is new: once per run for a
 * caller that keeps job, however often it polls. */
static void note_moved(struct hydra_job *job, char *new_uri)
{
	char shown[ESCAPED_MAX];

	if (job->moved_uri && !strcmp(job->moved_uri, new_uri)) {
		free(new_uri);
		return;
	}
	free(job->moved_uri);
	job->moved_uri = new_uri;
	str_escape(shown, sizeof(shown), new_uri, strlen(new_uri));
	log_warning("job %s moved to %s (Hydra answered 301 Moved Permanently: the jobset or "
		    "job was renamed); following it, but update job-uri to the new URI",
		    job->uri, shown);
}

/* A permanent redirect that is not to a build: the job moved. */
static bool is_move(const struct http_response *res)
{
	uint64_t id;
	struct hail_errbuf why;

	return (res->status == 301 || res->status == 308) && res->location &&
		hydra_parse_build_location(res->location, &id, &why) < 0;
}

int hydra_latest(struct http_client *http, struct hydra_job *job, uint64_t *id,
		 struct hail_errbuf *e)
{
	const char *url = job->latest_url;
	char moved_url[2048], *new_uri = NULL;
	struct http_response res;
	struct hail_errbuf why;
	bool followed = false;
	int ret;

	ret = http_request(http, NULL, url, accept_json, NULL, HYDRA_BODY_MAX, &res);
	if (ret < 0)
		return hail_fail(e, ret, "GET %s: %s", url, http_client_error(http));
	if (is_move(&res) && !strncmp(job->latest_url, job->uri, strlen(job->uri))) {
		/* at most once: the answer to the new URL is taken as it is */
		ret = moved_job(job, url, res.location, &new_uri, e);
		if (ret < 0)
			goto out;
		if (snprintf(moved_url, sizeof(moved_url), "%s%s", new_uri,
			     job->latest_url + strlen(job->uri)) >= (int)sizeof(moved_url)) {
			free(new_uri);
			ret = hail_fail(e, HAIL_E_PROTOCOL, "GET %s: HTTP 301 to a URL too long", url);
			goto out;
		}
		note_moved(job, new_uri);
		http_response_clear(&res);
		url = moved_url;
		followed = true;
		ret = http_request(http, NULL, url, accept_json, NULL, HYDRA_BODY_MAX, &res);
		if (ret < 0)
			return hail_fail(e, ret, "GET %s: %s", url, http_client_error(http));
	}
	switch (res.status) {
	case 301: case 302: case 303: case 307: case 308:
		break;
	case 404:
		ret = hail_fail(e, HAIL_E_NOT_FOUND, "GET %s: HTTP 404 (no successful build of "
				"this job, or no such job)", url);
		goto out;
	case 200:
		ret = hail_fail(e, HAIL_E_PROTOCOL, "GET %s: HTTP 200 instead of a redirect to "
				"a build (is job-uri a Hydra job?)", url);
		goto out;
	default:
		ret = unexpected_status(url, res.status, e);
		goto out;
	}
	if (!res.location) {
		ret = hail_fail(e, HAIL_E_PROTOCOL, "GET %s: HTTP %ld without Location", url, res.status);
		goto out;
	}
	ret = hydra_parse_build_location(res.location, id, &why);
	if (ret < 0) {
		/* A renamed jobset answers 301 to its new name (protocols.md). */
		ret = hail_fail(e, ret, "GET %s: HTTP %ld: %s%s", url, res.status, why.msg,
				!(res.status == 301 || res.status == 308) ? "" : followed ?
				" (moved again after one move: not followed; update job-uri)" :
				" (the job moved? update job-uri)");
		goto out;
	}
out:
	http_response_clear(&res);
	return ret;
}

int hydra_build(struct http_client *http, const struct hydra_job *job, uint64_t id,
		struct hydra_build *build, struct hail_errbuf *e)
{
	char url[2048], idstr[24];
	struct http_response res;
	struct hail_errbuf why;
	int ret;

	memset(build, 0, sizeof(*build));
	snprintf(idstr, sizeof(idstr), "%" PRIu64, id);
	if (snprintf(url, sizeof(url), "%s/build/%s", job->base, idstr) >= (int)sizeof(url))
		return hail_fail(e, HAIL_E_USAGE, "job-uri too long");
	ret = http_request(http, NULL, url, accept_json, NULL, HYDRA_BODY_MAX, &res);
	if (ret < 0)
		return hail_fail(e, ret, "GET %s: %s", url, http_client_error(http));
	if (res.status != 200) {
		ret = res.status == 404 ?
			hail_fail(e, HAIL_E_NOT_FOUND, "GET %s: HTTP 404", url) :
			unexpected_status(url, res.status, e);
		goto out;
	}
	ret = hydra_parse_build_json(res.body, res.body_len, id, build, &why);
	if (ret < 0)
		hail_fail(e, ret, "GET %s: %s", url, why.msg);
out:
	http_response_clear(&res);
	return ret;
}
