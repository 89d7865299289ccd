#include "autoscaling.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xmltext.h"

#define ASG_ANSWER_MAX (64 * 1024)

bool asg_name_valid(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n > ASG_NAME_MAX || name[0] == ' ' || name[n - 1] == ' ')
		return false;
	for (const unsigned char *p = (const unsigned char *)name; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			return false;
	return true;
}

/* Calls operation with the NULL-terminated name, value pairs, URL-encoded;
 * *answer (malloc'd) only when answer is not NULL. */
static int call(struct aws *a, const char *operation, const char *const *params,
		char **answer, char code[AWS_CODE_MAX], struct hail_errbuf *e)
{
	char form[2048], *body = NULL;
	int ret;

	ret = aws_form(form, sizeof(form), params);
	if (ret == HAIL_E_INTERNAL)
		return hail_fail(e, ret, "out of memory");
	if (ret < 0)
		return hail_fail(e, ret, "%s: parameters too long", operation);
	ret = aws_call(a, &aws_autoscaling, operation, form, ASG_ANSWER_MAX, &body, code, e);
	if (ret == 0 && answer)
		*answer = body;
	else
		free(body);
	return ret;
}

int asg_group_of(struct aws *a, const char *instance_id, char **group, struct hail_errbuf *e)
{
	const char *params[] = { "InstanceIds.member.1", instance_id, NULL };
	char code[AWS_CODE_MAX], name[ASG_NAME_MAX + 1], *answer = NULL;
	int ret;

	*group = NULL;
	ret = call(a, "DescribeAutoScalingInstances", params, &answer, code, e);
	if (ret < 0)
		return ret;
	ret = xml_element_text(answer, strlen(answer), "AutoScalingGroupName", name, sizeof(name));
	if (ret == HAIL_E_NOT_FOUND)
		ret = hail_fail(e, HAIL_E_NOT_FOUND, "instance %s is in no Auto Scaling group",
				instance_id);
	else if (ret < 0 || !asg_name_valid(name))
		ret = hail_fail(e, HAIL_E_PROTOCOL, "DescribeAutoScalingInstances: malformed answer");
	else if (!(*group = strdup(name)))
		ret = hail_fail(e, HAIL_E_INTERNAL, "out of memory");
	free(answer);
	return ret;
}

/* "No active Lifecycle Action found with instance ID ..." is a
 * ValidationError: the wait is over (timed out, or completed before a reboot). */
static int lifecycle_call(struct aws *a, const char *operation, const char *const *params,
			  struct hail_errbuf *e)
{
	char code[AWS_CODE_MAX];
	int ret = call(a, operation, params, NULL, code, e);

	if (ret == HAIL_E_HTTP && !strcmp(code, "ValidationError") &&
	    strstr(e->msg, "No active Lifecycle Action"))
		return HAIL_E_NOT_FOUND;
	return ret;
}

int asg_heartbeat(struct aws *a, const char *group, const char *hook, const char *instance_id,
		  struct hail_errbuf *e)
{
	const char *params[] = {
		"AutoScalingGroupName", group, "InstanceId", instance_id,
		"LifecycleHookName", hook, NULL
	};

	return lifecycle_call(a, "RecordLifecycleActionHeartbeat", params, e);
}

int asg_complete(struct aws *a, const char *group, const char *hook, const char *instance_id,
		 bool proceed, struct hail_errbuf *e)
{
	const char *params[] = {
		"AutoScalingGroupName", group, "InstanceId", instance_id,
		"LifecycleActionResult", proceed ? "CONTINUE" : "ABANDON",
		"LifecycleHookName", hook, NULL
	};

	return lifecycle_call(a, "CompleteLifecycleAction", params, e);
}

int asg_set_unhealthy(struct aws *a, const char *instance_id, struct hail_errbuf *e)
{
	const char *params[] = {
		"HealthStatus", "Unhealthy", "InstanceId", instance_id,
		"ShouldRespectGracePeriod", "false", NULL
	};
	char code[AWS_CODE_MAX];

	return call(a, "SetInstanceHealth", params, NULL, code, e);
}
