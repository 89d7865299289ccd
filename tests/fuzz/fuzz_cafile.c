/* libFuzzer: the --ca-file parser (PEM from the operator, bounded). */
#include <stdint.h>
#include <stdlib.h>

#include "cafile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ca_set *set = NULL;
	struct hail_errbuf e;

	if (ca_set_parse("fuzz.pem", (const char *)data, size, &set, &e) == 0 &&
	    (!set || ca_set_count(set) == 0))
		__builtin_trap();
	ca_set_free(set);
	return 0;
}
