/* libFuzzer: the state file (ours, but it may be old, damaged or edited by
 * hand) read, written and read again; the text must be stable after one
 * round, and deciding on any state must not crash. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "decide.h"
#include "state.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct decide_rules rules = { 60, "i-0123456789abcdef0", "/p", "/h", 30, "halt" };
	struct poll_facts f = {
		.now = 1800000000, .cur_path = "/nix/store/882hqh7rym3ckw2q575klshwn05hz688-demo-1",
		.cur_generation = 1, .latest_known = true, .latest_id = 2,
		.latest_path = "/nix/store/icgvpk79x8aifqm4s82lvaij1jbix8fk-demo-2",
	};
	struct agent_state s, t;
	struct hail_errbuf e;
	struct decision d;
	char *once, *twice;

	if (state_from_json((const char *)data, size, &s, &e) < 0)
		return 0;
	decide(&rules, &s, &f, &d);
	once = state_to_json(&s);
	if (once && state_from_json(once, strlen(once), &t, &e) == 0) {
		twice = state_to_json(&t);
		if (twice && strcmp(once, twice))
			__builtin_trap();
		free(twice);
		state_free(&t);
	}
	free(once);
	state_free(&s);
	return 0;
}
