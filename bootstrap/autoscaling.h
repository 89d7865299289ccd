/* EC2 Auto Scaling, the calls of a launch lifecycle hook: the group waits
 * (Pending:Wait) until this instance says CONTINUE (in service) or ABANDON
 * (replace it); heartbeats keep the wait open while the first pull is slow. */
#ifndef HAIL_AUTOSCALING_H
#define HAIL_AUTOSCALING_H

#include <stdbool.h>

#include "aws.h"

#define ASG_NAME_MAX 255

/* Is name fit for a group or hook name (1-255 printable, no spaces at the ends)? */
bool asg_name_valid(const char *name);

/* DescribeAutoScalingInstances for one instance: its group (malloc'd), or
 * HAIL_E_NOT_FOUND when the instance is in none. */
int asg_group_of(struct aws *a, const char *instance_id, char **group, struct hail_errbuf *e);

int asg_heartbeat(struct aws *a, const char *group, const char *hook, const char *instance_id,
		  struct hail_errbuf *e);

/* HAIL_E_NOT_FOUND when the group holds no action waiting for this instance
 * (the hook's timeout passed, or this is a later boot). */
int asg_complete(struct aws *a, const char *group, const char *hook, const char *instance_id,
		 bool proceed, struct hail_errbuf *e);

int asg_set_unhealthy(struct aws *a, const char *instance_id, struct hail_errbuf *e);

#endif
