/* AWS Systems Manager Parameter Store: GetParameter, the one call hail needs
 * (a netrc kept as a SecureString; the fleet's pause/pin switch). */
#ifndef HAIL_SSM_H
#define HAIL_SSM_H

#include <stdbool.h>
#include <stddef.h>

#include "aws.h"

#define SSM_NAME_MAX 2048
#define SSM_VALUE_MAX (64 * 1024)

/* Is name a parameter name SSM accepts (a-zA-Z0-9_.-/, a path starts with /)? */
bool ssm_name_valid(const char *name);

/* Reads parameter name, decrypted. *value is malloc'd and NUL-terminated; the
 * caller wipes it when it is a secret. HAIL_E_NOT_FOUND exactly when SSM
 * answered ParameterNotFound (an instance without a role is HAIL_E_HTTP:
 * the fleet's pause must not take it for "no parameter"); else as aws_call(). */
int ssm_get_parameter(struct aws *a, const char *name, char **value, size_t *len,
		      struct hail_errbuf *e);

#endif
