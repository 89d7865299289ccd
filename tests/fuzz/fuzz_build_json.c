/* libFuzzer: the Hydra build JSON reader (untrusted body from the network). */
#include <stdint.h>
#include <string.h>

#include "hydra.h"
#include "storepath.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct hail_errbuf e;
	struct hydra_build b;

	if (hydra_parse_build_json((const char *)data, size, 5, &b, &e) == 0) {
		/* what passes must be a store path */
		if (!storepath_valid(b.out_path, strlen(b.out_path), NULL))
			__builtin_trap();
		hydra_build_clear(&b);
	}
	return 0;
}
