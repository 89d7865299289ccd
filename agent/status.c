#include "status.h"

#include <cJSON.h>
#include <dirent.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fileio.h"
#include "hold.h"
#include "log.h"
#include "options.h"
#include "profile.h"
#include "state.h"
#include "strutil.h"

/* A JSON string for name (malloc'd): a profile name may hold a quote. */
static char *json_quote(const char *name)
{
	cJSON *str = cJSON_CreateString(name);
	char *text = str ? cJSON_PrintUnformatted(str) : NULL;

	cJSON_Delete(str);
	return text;
}

static void format_time(time_t t, char *buf, size_t size)
{
	struct tm tm;

	if (!t) {
		snprintf(buf, size, "never");
		return;
	}
	gmtime_r(&t, &tm);
	strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void print_human(const char *name, const char *dir, const struct agent_state *s)
{
	char when[32], *hold_path = str_concat(dir, "/hold", NULL);
	bool held = false;
	uint64_t until = 0;

	/* "halted: alarm NAME", as the logs say it */
	printf("%s: %s%s%s\n", name, mode_name(s->mode),
	       s->mode == MODE_HALTED && s->halt_alarm[0] ? " " : "",
	       s->mode == MODE_HALTED ? s->halt_alarm : "");
	if (s->on.path)
		printf("  on build %" PRIu64 ", generation %ld: %s\n", s->on.id, s->on.generation,
		       s->on.path);
	else
		printf("  not deployed yet\n");
	if (s->good.path && !ref_is(&s->good, s->on.path))
		printf("  last known good: build %" PRIu64 ", generation %ld: %s\n", s->good.id,
		       s->good.generation, s->good.path);
	else if (!s->good.path && s->on.path)
		printf("  last known good: none (no activation of it has succeeded)\n");
	if (s->journal.phase == PHASE_CONFIRMING || s->journal.phase == PHASE_CONFIRMING_ROLLBACK) {
		format_time(s->journal.until, when, sizeof(when));
		if (s->journal.phase == PHASE_CONFIRMING)
			printf("  contact check: build %" PRIu64 " activated; it is rolled back "
			       "unless Hydra answers by %s\n", s->journal.to.id, when);
		else
			printf("  contact check: rolled back from build %" PRIu64 "; an answer from "
			       "Hydra by %s blames it, none is an outage\n", s->journal.from.id,
			       when);
	} else if (s->journal.phase != PHASE_IDLE) {
		printf("  unfinished: %s %s (finished at the next poll)\n", phase_name(s->journal.phase),
		       s->journal.to.path);
	}
	if (s->reboot.required.path && ref_is(&s->reboot.required, s->on.path)) {
		printf("  reboot required: build %" PRIu64 " (its bin/reboot-required said so)\n",
		       s->reboot.required.id);
	}
	if (s->reboot.requested.path) {
		format_time(s->reboot.requested_at, when, sizeof(when));
		printf("  reboot requested: %s for build %" PRIu64 " (boot %s)\n", when,
		       s->reboot.requested.id, s->reboot.boot_id);
	}
	if (s->latest_path)
		printf("  latest build: %" PRIu64 ": %s\n", s->latest_id, s->latest_path);
	format_time(s->last_poll, when, sizeof(when));
	printf("  last poll: %s, %s%s%s\n", when, s->last_poll_result ? "failed: " : "ok",
	       s->last_poll_result ? s->last_poll_error : "", "");
	format_time(s->last_success, when, sizeof(when));
	printf("  last on the latest build: %s\n", when);
	if (s->activation_result[0]) {
		format_time(s->activation_time, when, sizeof(when));
		printf("  last activation: %s in %lld.%03llds (build %" PRIu64 ", %s)\n",
		       s->activation_result, s->activation_ms / 1000, s->activation_ms % 1000,
		       s->activation_id, when);
	}
	if (s->health_result[0] && strcmp(s->health_result, "none"))
		printf("  last health check: %s in %lld.%03llds (exit status %d)\n", s->health_result,
		       s->health_ms / 1000, s->health_ms % 1000, s->health_exit);
	if (s->paused) {
		format_time(s->pause_until, when, sizeof(when));
		printf("  paused by %s%s%s\n", s->control_source,
		       s->pause_until ? " until " : "", s->pause_until ? when : "");
	}
	if (s->pin_id)
		printf("  pinned to build %" PRIu64 "%s%s\n", s->pin_id, s->paused ? "" : " by ",
		       s->paused ? "" : s->control_source);
	if (s->mode == MODE_HALTED && s->halt_reason[0])
		printf("  %s\n", s->halt_reason);
	if (s->disk_wait_id)
		printf("  disk: build %" PRIu64 " needs %" PRIu64 " MiB with the margin; %" PRIu64
		       " MiB free\n", s->disk_wait_id, s->disk_needed >> 20, s->disk_free >> 20);
	if (s->rollout_id) {
		long long left = (long long)(s->rollout_at - time(NULL));

		format_time(s->rollout_at, when, sizeof(when));
		printf("  rollout: build %" PRIu64 " waits for this machine's turn at %s (%s%llds)\n",
		       s->rollout_id, when, left > 0 ? "in " : "due ", left > 0 ? left : 0);
	}
	for (unsigned i = 0; i < s->n_failed; i++)
		printf("  failed build %" PRIu64 ": %s (not retried)\n", s->failed[i].id,
		       s->failed[i].path);
	if (hold_path && hold_read(hold_path, &held, &until, NULL) == 0 && held) {
		if (until)
			printf("  hold: %s (released by a build newer than %" PRIu64 ")\n",
			       hold_path, until);
		else
			printf("  hold: %s (released when removed)\n", hold_path);
	}
	free(hold_path);
}

/* Shows one profile's state; -1 when it has none. */
static int show(const char *state_dir, const char *name, bool json, bool *first)
{
	struct hail_errbuf e = { "" };
	char *dir = str_concat(state_dir, "/", name);
	char *path = dir ? str_concat(dir, "/state.json", NULL) : NULL;
	struct agent_state s = { 0 };
	char *text = NULL, shown[1024];
	size_t len;
	int ret = -1;

	if (!path || file_read(path, STATE_FILE_MAX, &text, &len, &e) < 0)
		goto out;
	if (state_from_json(text, len, &s, &e) < 0) {
		log_warning("%s: %s", path, e.msg);
		goto out;
	}
	if (!profile_state_name_decode(name, shown, sizeof(shown)))
		snprintf(shown, sizeof(shown), "%s", name);
	if (json) {
		char *quoted = json_quote(shown);

		if (!quoted)
			goto out;
		printf("%s%s: %s", *first ? "" : ",\n", quoted, text);
		free(quoted);
	} else {
		if (!*first)
			printf("\n");
		print_human(shown, dir, &s);
	}
	*first = false;
	ret = 0;
out:
	state_free(&s);
	free(text);
	free(path);
	free(dir);
	return ret;
}

int status_main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "profile", required_argument, NULL, 'p' },
		{ "json", no_argument, NULL, 'j' },
		{ "state-dir", required_argument, NULL, 's' },
		{ NULL, 0, NULL, 0 }
	};
	const char *state_dir = DEFAULT_STATE_DIR, *profile = NULL;
	struct hail_errbuf e;
	bool json = false, first = true;
	int c, found = 0;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'p': profile = optarg; break;
		case 'j': json = true; break;
		case 's': state_dir = optarg; break;
		default:
			log_error(0, "status: unknown or incomplete option '%s'", argv[optind - 1]);
			fprintf(stderr, "Usage: hail status [--profile PROFILE] [--json] [--state-dir DIR]\n");
			return 2;
		}
	}
	if (json)
		printf("{");
	if (profile) {
		char *path = NULL, *name;

		if (profile_path(profile, &path, &e) < 0) {
			log_error(0, "%s", e.msg);
			return 2;
		}
		name = profile_state_name(path);
		found = name && show(state_dir, name, json, &first) == 0;
		free(name);
		free(path);
	} else {
		DIR *d = opendir(state_dir);
		struct dirent *de;

		while (d && (de = readdir(d)))
			if (de->d_name[0] != '.' && show(state_dir, de->d_name, json, &first) == 0)
				found++;
		if (d)
			closedir(d);
	}
	if (json)
		printf("}\n");
	if (!found) {
		log_error(0, "no hail state%s%s under %s", profile ? " for " : "",
			  profile ? profile : "", state_dir);
		return 1;
	}
	return 0;
}
