#include "plan.h"

#include <cJSON.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "act.h"
#include "agent.h"
#include "disk.h"
#include "log.h"
#include "options.h"
#include "retention.h"
#include "rfc3339.h"
#include "signals.h"

#define PLAN_ARGS_MAX 256

/* What the plan found, beside the decision. */
struct plan {
	struct decision d;
	bool decided;
	int poll_err;                   /* what kept a fact unknown */
	char poll_error[sizeof(((struct hail_errbuf *)0)->msg)];
	bool sized;                     /* a switch: Nix's dry run answered */
	struct disk_need need;
	uint64_t margin;
	char size_error[sizeof(((struct hail_errbuf *)0)->msg)];
	bool pruning;                   /* keep-generations applies after the action */
	long *doomed;                   /* owned */
	size_t n_doomed;
	char prune_error[sizeof(((struct hail_errbuf *)0)->msg)];
};

static void usage(void)
{
	printf("Usage: hail plan --profile PROFILE --job-uri URI [settings...] [--json]\n"
	       "       hail plan --config FILE [--json]\n\n"
	       "One read-only poll: what hail would do now and why, the build it would move to,\n"
	       "what Nix would download for it and the generations it would delete. Changes\n"
	       "nothing. Exit 0: it would do nothing; 10: it would switch, roll back or\n"
	       "activate; else the statuses of a poll (hail --help lists the settings).\n");
}

static bool changes_profile(enum action a)
{
	return a == ACTION_SWITCH || a == ACTION_ROLL_BACK || a == ACTION_ACTIVATE;
}

/* The sizes of a switch and what keep-generations would delete after the
 * action, as the agent itself would compute them. */
static void look_ahead(struct agent *a, struct plan *p)
{
	const struct settings *set = a->set;
	const struct decision *d = &p->d;
	const char *keep[ACT_KEEP_PATHS];
	struct retention_keep k;
	struct hail_errbuf why;

	act_retention_keep(a, keep, &k);
	if (d->action == ACTION_SWITCH && d->target.path) {
		if (disk_check(d->target.path, set->switch_timeout_s, &p->need, &why) == 0) {
			p->sized = true;
			p->margin = act_disk_margin(a, p->need.total);
		} else {
			snprintf(p->size_error, sizeof(p->size_error), "%s", why.msg);
		}
	}
	if (!set->keep_generations || !changes_profile(d->action))
		return;
	p->pruning = true;
	if (d->action == ACTION_ROLL_BACK)
		k.current = d->target.generation;
	if (retention_doomed(a->paths.profile, &k,
			     d->action == ACTION_SWITCH ? d->target.path : NULL,
			     &p->doomed, &p->n_doomed, &why) < 0)
		snprintf(p->prune_error, sizeof(p->prune_error), "%s", why.msg);
}

static void mib(char *buf, size_t size, uint64_t bytes)
{
	snprintf(buf, size, "%.1f MiB", bytes / 1048576.0);
}

static void print_text(const struct agent *a, const struct plan *p)
{
	const struct decision *d = &p->d;
	const struct poll_facts *f = &a->obs.f;
	char down[32], unpacked[32], free_[32], margin[32], when[40];

	printf("%s follows %s\n", a->paths.profile, a->clients.job.uri);
	if (!p->decided) {
		printf("decision: none (the profile cannot be read)\n");
	} else {
		printf("decision: %s%s\n", action_name(d->action),
		       changes_profile(d->action) ? "" : " (nothing changes)");
		printf("mode: %s\n", mode_name(d->mode));
		printf("why: %s\n", d->reason);
		if (d->action == ACTION_WAIT && d->wake_at) {
			rfc3339_format(d->wake_at, when, sizeof(when));
			printf("until: %s\n", when);
		}
	}
	if (f->cur_path)
		printf("now on: build %" PRIu64 ", generation %ld: %s\n", a->st.on.id,
		       f->cur_generation, f->cur_path);
	else
		printf("now on: nothing (no profile yet)\n");
	if (p->decided && d->target.path && changes_profile(d->action))
		printf("target: build %" PRIu64 ": %s\n", d->target.id, d->target.path);
	if (p->sized) {
		mib(down, sizeof(down), p->need.download);
		mib(unpacked, sizeof(unpacked), p->need.unpacked);
		mib(free_, sizeof(free_), p->need.free);
		mib(margin, sizeof(margin), p->margin);
		printf("download: %s, unpacked %s (nix-store --realise --dry-run); %s free, "
		       "%s kept free: %s\n", down, unpacked, free_, margin,
		       disk_fits(p->need.unpacked, p->need.free, p->margin) ? "fits" :
		       "does not fit");
	} else if (p->size_error[0]) {
		printf("download: unknown (%s)\n", p->size_error);
	}
	if (p->pruning && p->prune_error[0]) {
		printf("prune: unknown (%s)\n", p->prune_error);
	} else if (p->pruning) {
		printf("prune: ");
		for (size_t i = 0; i < p->n_doomed; i++)
			printf("%s%ld", i ? ", " : "generation ", p->doomed[i]);
		printf("%s (keep-generations %u)\n", p->n_doomed ? "" : "nothing",
		       a->set->keep_generations);
	}
	if (p->poll_err)
		printf("error: %s\n", p->poll_error);
}

static void add_build(cJSON *o, const char *key, uint64_t id, long generation, const char *path)
{
	cJSON *b = cJSON_AddObjectToObject(o, key);

	if (!b)
		return;
	if (id)
		cJSON_AddNumberToObject(b, "id", (double)id);
	if (generation)
		cJSON_AddNumberToObject(b, "generation", (double)generation);
	cJSON_AddStringToObject(b, "path", path);
}

static int print_json(const struct agent *a, const struct plan *p)
{
	const struct decision *d = &p->d;
	const struct poll_facts *f = &a->obs.f;
	cJSON *o = cJSON_CreateObject(), *prune;
	char when[40], *text;

	if (!o)
		return HAIL_E_INTERNAL;
	cJSON_AddStringToObject(o, "profile", a->paths.profile);
	cJSON_AddStringToObject(o, "job-uri", a->clients.job.uri);
	cJSON_AddStringToObject(o, "action", p->decided ? action_name(d->action) : "none");
	cJSON_AddBoolToObject(o, "would-change", p->decided && changes_profile(d->action));
	if (p->decided) {
		cJSON_AddStringToObject(o, "mode", mode_name(d->mode));
		cJSON_AddStringToObject(o, "reason", d->reason);
		if (d->action == ACTION_WAIT && d->wake_at) {
			rfc3339_format(d->wake_at, when, sizeof(when));
			cJSON_AddStringToObject(o, "until", when);
		}
	}
	if (f->cur_path)
		add_build(o, "current", a->st.on.id, f->cur_generation, f->cur_path);
	if (p->decided && d->target.path && changes_profile(d->action))
		add_build(o, "target", d->target.id, d->target.generation, d->target.path);
	if (p->sized) {
		cJSON_AddNumberToObject(o, "download-bytes", (double)p->need.download);
		cJSON_AddNumberToObject(o, "unpacked-bytes", (double)p->need.unpacked);
		cJSON_AddNumberToObject(o, "free-bytes", (double)p->need.free);
		cJSON_AddNumberToObject(o, "min-free-after-bytes", (double)p->margin);
		cJSON_AddBoolToObject(o, "fits", disk_fits(p->need.unpacked, p->need.free,
							   p->margin));
	} else if (p->size_error[0]) {
		cJSON_AddStringToObject(o, "size-error", p->size_error);
	}
	if (p->pruning && !p->prune_error[0]) {
		prune = cJSON_AddArrayToObject(o, "prune-generations");
		for (size_t i = 0; prune && i < p->n_doomed; i++)
			cJSON_AddItemToArray(prune, cJSON_CreateNumber((double)p->doomed[i]));
	} else if (p->pruning) {
		cJSON_AddStringToObject(o, "prune-error", p->prune_error);
	}
	if (p->poll_err)
		cJSON_AddStringToObject(o, "error", p->poll_error);
	text = cJSON_Print(o);
	cJSON_Delete(o);
	if (!text)
		return HAIL_E_INTERNAL;
	printf("%s\n", text);
	free(text);
	return 0;
}

int plan_main(int argc, char **argv, bool *would_change)
{
	char *args[PLAN_ARGS_MAX + 1] = { "hail" };
	struct hail_errbuf e = { "" };
	struct settings set;
	struct agent agent = { 0 };
	struct plan p = { 0 };
	bool json = false, started = false;
	int n = 1, ret;

	*would_change = false;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json")) {
			json = true;
			continue;
		}
		if (n == PLAN_ARGS_MAX) {
			log_error(HAIL_E_USAGE, "plan: more than %d arguments", PLAN_ARGS_MAX);
			return HAIL_E_USAGE;
		}
		args[n++] = argv[i];
	}
	ret = settings_load(&set, n, args, &e);
	if (ret < 0) {
		log_error(ret, "%s", e.msg);
		if (ret == HAIL_E_USAGE)
			fprintf(stderr, "Try 'hail plan --help'.\n");
		goto out;
	}
	if (set.help || set.version) {
		if (set.help)
			usage();
		else
			printf("hail %s\n", HAIL_VERSION);
		goto out;
	}
	set.read_only = true;
	log_set_debug(set.verbose);
	ret = signals_setup();
	if (ret == 0) {
		started = true;
		ret = agent_init(&agent, &set, &e);
	}
	if (ret < 0) {
		log_error(ret, "%s", e.msg);
		goto out;
	}
	p.poll_err = agent_decide(&agent, &p.d, &p.decided, &e);
	if (p.poll_err)
		snprintf(p.poll_error, sizeof(p.poll_error), "%s", e.msg);
	if (p.decided)
		look_ahead(&agent, &p);
	ret = json ? print_json(&agent, &p) : (print_text(&agent, &p), 0);
	if (ret == 0)
		ret = p.poll_err;
	*would_change = p.decided && changes_profile(p.d.action);
out:
	free(p.doomed);
	if (started)
		agent_free(&agent);
	settings_free(&set);    /* also what it read before an error */
	return ret;
}
