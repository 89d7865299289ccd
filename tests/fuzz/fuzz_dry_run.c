/* libFuzzer: the disk guard's readers of nix-store's output (disk.h). */
#include <stdint.h>

#include "disk.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct hail_errbuf e;
	uint64_t d, u, f;

	if (disk_parse_dry_run((const char *)data, size, &d, &u, &e) == 0 &&
	    (d > 1e9 * 1048576.0 || u > 1e9 * 1048576.0))
		__builtin_trap();
	(void)disk_parse_freed((const char *)data, size, &f);
	return 0;
}
