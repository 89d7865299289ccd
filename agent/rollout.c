#include "rollout.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fileio.h"

unsigned rollout_offset_s(const char *identity, uint64_t build_id, unsigned window_s)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	char msg[512];
	uint64_t h = 0;
	int n;

	if (window_s == 0)
		return 0;
	n = snprintf(msg, sizeof(msg), "%s\n%llu", identity, (unsigned long long)build_id);
	if (n < 0 || (size_t)n >= sizeof(msg) ||
	    !EVP_Digest(msg, (size_t)n, md, &mdlen, EVP_sha256(), NULL) || mdlen < 8)
		return 0;
	for (int i = 0; i < 8; i++)
		h = h << 8 | md[i];
	return (unsigned)(h % window_s);
}

int rollout_identity(const char *instance_id, char **identity, struct hail_errbuf *e)
{
	struct hail_errbuf why;
	size_t len;
	int ret;

	if (instance_id && *instance_id) {
		if (strlen(instance_id) > 256)
			return hail_fail(e, HAIL_E_USAGE, "instance-id: longer than 256 characters");
		*identity = strdup(instance_id);
		return *identity ? 0 : hail_fail(e, HAIL_E_INTERNAL, "out of memory");
	}
	ret = file_read(MACHINE_ID_FILE, 256, identity, &len, &why);
	if (ret == 0) {
		(*identity)[strcspn(*identity, "\r\n")] = '\0';
		if ((*identity)[0])
			return 0;
		free(*identity);
		*identity = NULL;
	}
	return hail_fail(e, HAIL_E_USAGE, "rollout-window and reboot-window need this machine's identity: give "
			 "instance-id, or make %s", MACHINE_ID_FILE);
}
