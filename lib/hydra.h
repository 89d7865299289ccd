/* The Hydra API as hail uses it (protocols.md, "Hydra").
 *
 * GET JOB/latest answers 302 with Location BASE/build/ID: the ID is read from
 * Location and the redirect is not followed, so a poll that finds the same
 * build costs one small request. The build JSON is fetched from the job URI's
 * own base, never from wherever Location points. */
#ifndef HAIL_HYDRA_H
#define HAIL_HYDRA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "http.h"

#define HYDRA_BODY_MAX (1024 * 1024)

/* A validated job URI. */
struct hydra_job {
	char *uri;          /* owned: normalized, no trailing slash */
	char *base;         /* owned: the part before "/job/" */
	char *latest_url;   /* owned: uri + "/latest" */
};

struct hydra_build {
	uint64_t id;
	char *out_path;     /* owned: a valid store path */
	char *job_name;     /* owned: "PROJECT/JOBSET/JOB", or NULL when not given */
	int64_t stoptime;   /* when the build finished (Unix time), 0: not given */
};

/* Accepts http(s)://HOST[:PORT][/PREFIX]/job/PROJECT/JOBSET/JOB with no
 * user:password, query or fragment. HAIL_E_USAGE with the reason in *e. */
int hydra_job_parse(const char *uri, struct hydra_job *job, struct hail_errbuf *e);
void hydra_job_clear(struct hydra_job *job);

/* Asks for the latest successful build: its id in *id. */
int hydra_latest(struct http_client *http, const struct hydra_job *job, uint64_t *id,
		 struct hail_errbuf *e);

/* Fetches build id and reads its "out" output. */
int hydra_build(struct http_client *http, const struct hydra_job *job, uint64_t id,
		struct hydra_build *build, struct hail_errbuf *e);
void hydra_build_clear(struct hydra_build *build);

/* True when the build says it belongs to job (false when it does not say). */
bool hydra_build_of_job(const struct hydra_build *build, const struct hydra_job *job);

/* Pure parsers, for tests and fuzzing. */
int hydra_parse_build_location(const char *location, uint64_t *id, struct hail_errbuf *e);
int hydra_parse_build_json(const char *body, size_t len, uint64_t id,
			   struct hydra_build *build, struct hail_errbuf *e);

#endif
