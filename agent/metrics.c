#include "metrics.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "fileio.h"
#include "mode.h"

#define METRICS_MAX 16384

struct out {
	char *buf;
	size_t size, len;
	bool overflow;
};

static void put(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put(struct out *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (o->overflow)
		return;
	va_start(ap, fmt);
	n = vsnprintf(o->buf + o->len, o->size - o->len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= o->size - o->len)
		o->overflow = true;
	else
		o->len += (size_t)n;
}

static void head(struct out *o, const char *name, const char *type, const char *help)
{
	put(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* Label values: escape backslash, quote and newline (exposition format). */
static void label_value(char *dst, size_t size, const char *v)
{
	size_t o = 0;

	for (; *v && o + 3 < size; v++) {
		if (*v == '\\' || *v == '"' || *v == '\n') {
			dst[o++] = '\\';
			dst[o++] = *v == '\n' ? 'n' : *v;
		} else {
			dst[o++] = *v;
		}
	}
	dst[o] = '\0';
}

int metrics_format(char *buf, size_t size, const char *profile, const struct agent_state *s)
{
	static const char *const kinds[] = { NULL, "internal", "usage", "network", "http",
					     "protocol", "not_found", "nix", "activation", "busy",
					     "interrupted", "held" };
	struct out o = { buf, size, 0, false };
	char p[256], alarm[520];

	label_value(p, sizeof(p), profile);
	head(&o, "hail_last_poll_timestamp_seconds", "gauge", "When the last poll ended.");
	put(&o, "hail_last_poll_timestamp_seconds{profile=\"%s\"} %lld\n", p, (long long)s->last_poll);
	head(&o, "hail_last_success_timestamp_seconds", "gauge",
	     "When a poll last ended with the profile on the latest build.");
	put(&o, "hail_last_success_timestamp_seconds{profile=\"%s\"} %lld\n", p,
	    (long long)s->last_success);
	head(&o, "hail_poll_errors_total", "counter", "Failed polls by kind.");
	for (unsigned k = 1; k < sizeof(kinds) / sizeof(kinds[0]); k++)
		put(&o, "hail_poll_errors_total{profile=\"%s\",kind=\"%s\"} %lu\n", p, kinds[k],
		    s->counters.poll_errors[k]);
	head(&o, "hail_activations_total", "counter", "Activations by result.");
	put(&o, "hail_activations_total{profile=\"%s\",result=\"success\"} %lu\n", p,
	    s->counters.activations_ok);
	put(&o, "hail_activations_total{profile=\"%s\",result=\"failure\"} %lu\n", p,
	    s->counters.activations_failed);
	put(&o, "hail_activations_total{profile=\"%s\",result=\"timeout\"} %lu\n", p,
	    s->counters.activations_timed_out);
	head(&o, "hail_rollbacks_total", "counter", "Rollbacks after a failed activation.");
	put(&o, "hail_rollbacks_total{profile=\"%s\"} %lu\n", p, s->counters.rollbacks);
	head(&o, "hail_build_id", "gauge", "The Hydra build the profile is on (0: unknown).");
	put(&o, "hail_build_id{profile=\"%s\"} %llu\n", p, (unsigned long long)s->on.id);
	head(&o, "hail_last_good_build_id", "gauge",
	     "The last build whose activation and health check succeeded (0: none or unknown).");
	put(&o, "hail_last_good_build_id{profile=\"%s\"} %llu\n", p, (unsigned long long)s->good.id);
	head(&o, "hail_step_in_progress", "gauge",
	     "1 while a switch, activation or rollback is under way or unfinished.");
	put(&o, "hail_step_in_progress{profile=\"%s\"} %d\n", p, s->journal.phase != PHASE_IDLE);
	head(&o, "hail_latest_build_id", "gauge", "The latest build Hydra offers.");
	put(&o, "hail_latest_build_id{profile=\"%s\"} %llu\n", p, (unsigned long long)s->latest_id);
	head(&o, "hail_held", "gauge", "1 while hail holds the profile (manual switch, failed build).");
	put(&o, "hail_held{profile=\"%s\"} %d\n", p, mode_is_held(s->mode));
	head(&o, "hail_health_check_seconds", "gauge",
	     "How long the last bin/health-check ran (0: none ran).");
	put(&o, "hail_health_check_seconds{profile=\"%s\"} %lld.%03lld\n", p, s->health_ms / 1000,
	    s->health_ms % 1000);
	head(&o, "hail_health_check_exit_status", "gauge",
	     "The last bin/health-check's exit status (-1: none ran, or it was killed).");
	put(&o, "hail_health_check_exit_status{profile=\"%s\"} %d\n", p,
	    s->health_result[0] ? s->health_exit : -1);
	head(&o, "hail_health_checks_failed_total", "counter",
	     "Health checks that failed or timed out.");
	put(&o, "hail_health_checks_failed_total{profile=\"%s\"} %lu\n", p,
	    s->counters.health_checks_failed);
	head(&o, "hail_disk_needed_bytes", "gauge",
	     "The next build's unpacked size plus the margin, while it waits for disk space (else 0).");
	put(&o, "hail_disk_needed_bytes{profile=\"%s\"} %llu\n", p,
	    s->disk_wait_id ? (unsigned long long)s->disk_needed : 0ULL);
	head(&o, "hail_disk_free_bytes", "gauge",
	     "The store's free bytes when the next build was found not to fit (else 0).");
	put(&o, "hail_disk_free_bytes{profile=\"%s\"} %llu\n", p,
	    s->disk_wait_id ? (unsigned long long)s->disk_free : 0ULL);
	head(&o, "hail_gc_freed_bytes_total", "counter",
	     "Bytes freed by the garbage collections hail started (--gc).");
	put(&o, "hail_gc_freed_bytes_total{profile=\"%s\"} %llu\n", p, s->counters.gc_freed_bytes);
	head(&o, "hail_fetcher_restarts_total", "counter",
	     "Times the fetcher (the unprivileged network side) died, hung or sent a bad record "
	     "and was started again.");
	put(&o, "hail_fetcher_restarts_total{profile=\"%s\"} %lu\n", p,
	    s->counters.fetcher_restarts);
	head(&o, "hail_contact_check", "gauge",
	     "1 while hail waits for Hydra to answer after a switch (contact-timeout), 2 after "
	     "a rollback for lost contact.");
	put(&o, "hail_contact_check{profile=\"%s\"} %d\n", p,
	    s->journal.phase == PHASE_CONFIRMING ? 1 :
	    s->journal.phase == PHASE_CONFIRMING_ROLLBACK ? 2 : 0);
	head(&o, "hail_contact_rollbacks_total", "counter",
	     "Rollbacks because Hydra did not answer within contact-timeout of a switch.");
	put(&o, "hail_contact_rollbacks_total{profile=\"%s\"} %lu\n", p,
	    s->counters.contact_rollbacks);
	head(&o, "hail_reboot_required", "gauge",
	     "1 while the build the profile is on says it takes full effect only after a reboot.");
	put(&o, "hail_reboot_required{profile=\"%s\"} %d\n", p,
	    ref_is(&s->reboot.required, s->on.path));
	head(&o, "hail_reboots_requested_total", "counter", "Times hail ran the reboot-command.");
	put(&o, "hail_reboots_requested_total{profile=\"%s\"} %lu\n", p,
	    s->counters.reboots_requested);
	head(&o, "hail_halted", "gauge",
	     "1 while the halt alarm (in ALARM, or unreadable) keeps a new build out.");
	label_value(alarm, sizeof(alarm), s->mode == MODE_HALTED ? s->halt_alarm : "");
	put(&o, "hail_halted{profile=\"%s\",alarm=\"%s\"} %d\n", p, alarm, s->mode == MODE_HALTED);
	head(&o, "hail_paused", "gauge", "1 while a tag or the fleet's SSM parameter pauses hail.");
	put(&o, "hail_paused{profile=\"%s\"} %d\n", p, s->paused);
	head(&o, "hail_pinned_build_id", "gauge", "The build hail is pinned to (0: not pinned).");
	put(&o, "hail_pinned_build_id{profile=\"%s\"} %llu\n", p, (unsigned long long)s->pin_id);
	head(&o, "hail_rollout_adopt_timestamp_seconds", "gauge",
	     "When this machine takes the build that waits for its rollout turn (0: none waits).");
	put(&o, "hail_rollout_adopt_timestamp_seconds{profile=\"%s\"} %lld\n", p,
	    s->rollout_id ? (long long)s->rollout_at : 0LL);
	return o.overflow ? -1 : (int)o.len;
}

int metrics_write(const char *path, const char *profile, const struct agent_state *s,
		  struct hail_errbuf *e)
{
	char buf[METRICS_MAX];
	int n = metrics_format(buf, sizeof(buf), profile, s);

	if (n < 0)
		return hail_fail(e, HAIL_E_INTERNAL, "metrics larger than %d bytes", METRICS_MAX);
	/* node_exporter reads the file at any time: never a partial one */
	return file_write_atomic(path, buf, (size_t)n, 0644, NULL, false, e);
}
