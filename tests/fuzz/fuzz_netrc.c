/* libFuzzer: the netrc checker (secrets in user-data must not crash it). */
#include <stdint.h>

#include "netrc_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct hail_errbuf e;
	bool has;

	netrc_check((const char *)data, size, "127.0.0.1", &has, &e);
	return 0;
}
