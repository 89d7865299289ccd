/* What the bootstrap writes, below a root folder ("" for the machine):
 *
 *   /etc/nix/netrc            the netrc text, 0600: the only place for secrets
 *   /etc/nix/hail.conf        extra-substituters, extra-trusted-public-keys,
 *                             netrc-file; included from nix.conf, so the
 *                             image's own settings stay as they are
 *   /etc/nix/nix.conf         gains one "!include hail.conf" line, once
 *   /etc/hail/PROFILE.json    the agent's --config (no secrets); it names
 *                             the fleet file
 *   /etc/hail/fleet.json      the fleet settings for every hail agent on the
 *                             machine (its --fleet-file): rollout-window,
 *                             control-ssm-parameter, aws-endpoint-url,
 *                             imds-endpoint, instance-id; "{}" when there
 *                             are none, so that a stale one never lingers
 *   /var/lib/hail/bootstrap.json   what was done and when, and which netrc
 *                             file the bootstrap wrote
 *
 * Every file is written atomically and only when its content changes, so a
 * second run with the same metadata changes nothing. */
#ifndef HAIL_INSTALL_H
#define HAIL_INSTALL_H

#include <limits.h>
#include <stdbool.h>

#include "error.h"
#include "settings.h"

struct install_paths {
	char netrc[PATH_MAX];
	char nix_conf[PATH_MAX];
	char hail_conf[PATH_MAX];
	char agent_config[PATH_MAX];
	char fleet[PATH_MAX];
	char record[PATH_MAX];
	char profile[PATH_MAX];
	char netrc_on_machine[PATH_MAX];   /* the netrc's path as the machine sees it */
	char config_on_machine[PATH_MAX];  /* the agent config's, likewise */
	char fleet_on_machine[PATH_MAX];   /* the fleet file's, likewise */
};

int install_paths_init(struct install_paths *p, const char *root, const char *profile,
		       struct hail_errbuf *e);

/* What the agent needs to know about the instance it runs on. */
struct install_instance {
	const char *instance_id;        /* for the rollout cohort */
	const char *imds_endpoint;      /* for the pause and pin tags */
	const char *autoscaling_group;  /* for the fleet metrics, or NULL */
};

/* Writes the settings' files. *changed tells whether any file changed.
 * Settings without a netrc remove the netrc the bootstrap wrote on an earlier
 * run (the record says which file that was, and it must not have changed
 * since); a netrc it did not write stays, and is still used. */
int install_write(const struct install_paths *p, const struct boot_settings *s,
		  const struct install_instance *in, bool *changed, struct hail_errbuf *e);

/* Records the run in bootstrap.json (rewritten only when a field other than
 * the time changed). store_path may be NULL. */
int install_record(const struct install_paths *p, const struct boot_settings *s,
		   const char *instance_id, const char *store_path, struct hail_errbuf *e);

#endif
