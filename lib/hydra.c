#include "hydra.h"

#include <cJSON.h>
#include <curl/curl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "storepath.h"
#include "strutil.h"

#define ESCAPED_MAX 200

void hydra_job_clear(struct hydra_job *job)
{
	free(job->uri);
	free(job->base);
	free(job->latest_url);
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

int hydra_parse_build_location(const char *location, uint64_t *id, struct hail_errbuf *e)
{
	char shown[ESCAPED_MAX], *path = NULL;
	unsigned long long v;
	const char *digits;
	CURLU *u;
	int ret;

	str_escape(shown, sizeof(shown), location, strlen(location));
	u = curl_url();
	if (!u)
		return hail_fail(e, HAIL_E_INTERNAL, "out of memory");
	if (curl_url_set(u, CURLUPART_URL, location, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_PATH, &path, 0) != CURLUE_OK) {
		ret = hail_fail(e, HAIL_E_PROTOCOL, "Location '%s' is not a URL", shown);
		goto out;
	}
	digits = strrchr(path, '/');
	if (!digits || digits - path < 6 || memcmp(digits - 6, "/build", 6) != 0 ||
	    str_to_u64(digits + 1, 1, INT64_MAX, &v) < 0) {
		ret = hail_fail(e, HAIL_E_PROTOCOL, "Location '%s' is not a Hydra build URL", shown);
		goto out;
	}
	*id = v;
	ret = 0;
out:
	curl_free(path);
	curl_url_cleanup(u);
	return ret;
}

/* finished and buildstatus are integers in practice and booleans in the
 * OpenAPI document (protocols.md): take either. */
static bool json_is_one(const cJSON *v)
{
	return cJSON_IsTrue(v) || (cJSON_IsNumber(v) && v->valuedouble == 1);
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

bool hydra_build_of_job(const struct hydra_build *build, const struct hydra_job *job)
{
	size_t n, u = strlen(job->uri);

	if (!build->job_name)
		return false;       /* cannot tell: not good enough for a pin */
	n = strlen(build->job_name);
	return u > n + 5 && !memcmp(job->uri + u - n - 5, "/job/", 5) &&
		!strcmp(job->uri + u - n, build->job_name);
}

int hydra_parse_build_json(const char *body, size_t len, uint64_t id,
			   struct hydra_build *build, struct hail_errbuf *e)
{
	const cJSON *outputs, *out, *path, *v;
	char shown[ESCAPED_MAX];
	const char *why = NULL;
	const char *end = NULL;
	cJSON *root;
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
	if (v && !(cJSON_IsNumber(v) && v->valuedouble == (double)id)) {
		ret = hail_fail(e, HAIL_E_PROTOCOL, "build %" PRIu64 ": JSON is of another build", id);
		goto out;
	}
	v = cJSON_GetObjectItemCaseSensitive(root, "finished");
	if (v && !json_is_one(v)) {
		ret = hail_fail(e, HAIL_E_PROTOCOL, "build %" PRIu64 ": not finished", id);
		goto out;
	}
	v = cJSON_GetObjectItemCaseSensitive(root, "buildstatus");
	if (v && !(cJSON_IsNumber(v) && v->valuedouble == 0)) {
		ret = hail_fail(e, HAIL_E_PROTOCOL, "build %" PRIu64 ": did not succeed", id);
		goto out;
	}
	outputs = cJSON_GetObjectItemCaseSensitive(root, "buildoutputs");
	out = cJSON_IsObject(outputs) ? cJSON_GetObjectItemCaseSensitive(outputs, "out") : NULL;
	path = cJSON_IsObject(out) ? cJSON_GetObjectItemCaseSensitive(out, "path") : NULL;
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
	v = cJSON_GetObjectItemCaseSensitive(root, "stoptime");
	if (cJSON_IsNumber(v) && v->valuedouble > 0 && v->valuedouble < 1e12)
		build->stoptime = (int64_t)v->valuedouble;
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

int hydra_latest(struct http_client *http, const struct hydra_job *job, uint64_t *id,
		 struct hail_errbuf *e)
{
	const char *url = job->latest_url;
	struct http_response res;
	struct hail_errbuf why;
	int ret;

	ret = http_request(http, NULL, url, accept_json, NULL, HYDRA_BODY_MAX, &res);
	if (ret < 0)
		return hail_fail(e, ret, "GET %s: %s", url, http_client_error(http));
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
				(res.status == 301 || res.status == 308) ?
				" (the job moved? update job-uri)" : "");
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
