/* hail: keeps a Nix profile on the latest successful build of a Hydra job.
 * This file only reads the settings and hands over to agent.c. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "http.h"
#include "log.h"
#include "options.h"
#include "plan.h"
#include "signals.h"
#include "status.h"

/* hail plan: it would switch, roll back or activate. */
#define EXIT_WOULD_CHANGE 10

/* Exit statuses: distinct per kind of failure, documented in the README. */
static int exit_status(int err)
{
	switch (err) {
	case HAIL_OK: return 0;
	case HAIL_E_USAGE: return 2;
	case HAIL_E_NETWORK: case HAIL_E_HTTP: case HAIL_E_NOT_FOUND: return 3;
	case HAIL_E_PROTOCOL: return 4;
	case HAIL_E_NIX: return 5;
	case HAIL_E_ACTIVATE: return 6;
	case HAIL_E_BUSY: return 7;
	case HAIL_E_HELD: return 8;
	case HAIL_E_NO_SPACE: return 9;
	case HAIL_E_INTERRUPTED: return 130;
	}
	return 1;
}

int main(int argc, char **argv)
{
	struct hail_errbuf e = { "" };
	struct settings set;
	struct agent agent = { 0 };
	int ret;

	log_init("hail");
	if (argc > 1 && !strcmp(argv[1], "status"))
		return status_main(argc - 1, argv + 1);
	if (argc > 1 && !strcmp(argv[1], "plan")) {
		bool would_change;

		ret = plan_main(argc - 1, argv + 1, &would_change);
		return ret == 0 && would_change ? EXIT_WOULD_CHANGE : exit_status(ret);
	}
	ret = settings_load(&set, argc, argv, &e);
	if (ret < 0) {
		log_error(ret, "%s", e.msg);
		if (ret == HAIL_E_USAGE)
			fprintf(stderr, "Try 'hail --help'.\n");
		goto out;
	}
	if (set.help) {
		options_print_help("hail");
		goto out;
	}
	if (set.version) {
		printf("hail %s\n", HAIL_VERSION);
		goto out;
	}
	log_set_debug(set.verbose);
	/* libcurl is the fetcher's alone (fetcher.h) */
	ret = signals_setup();
	if (ret < 0) {
		log_error(ret, "cannot initialise");
		goto out;
	}
	ret = agent_init(&agent, &set, &e);
	if (ret < 0) {
		log_error(ret, "%s", e.msg);
		goto cleanup;
	}
	ret = set.oneshot ? agent_run_oneshot(&agent) : agent_run_polling(&agent);
cleanup:
	agent_free(&agent);
out:
	settings_free(&set);
	return exit_status(ret);
}
