/* libFuzzer: Location headers and job URIs (URL parsing of untrusted text). */
#include <curl/curl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hydra.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct hail_errbuf e;
	struct hydra_job job;
	char *s = malloc(size + 1);
	uint64_t id;

	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	if (hydra_parse_build_location(s, &id, &e) == 0 && id == 0)
		__builtin_trap();
	if (hydra_job_parse(s, &job, &e) == 0) {
		if (strncmp(job.latest_url, job.base, strlen(job.base)) != 0)
			__builtin_trap();
		hydra_job_clear(&job);
	}
	free(s);
	return 0;
}
