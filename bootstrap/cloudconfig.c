#include "cloudconfig.h"

#include <cJSON.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#define MARKER "#cloud-config"

/* What is known of one node of the document: its size and height with its
 * aliases expanded. */
struct node_cost {
	unsigned char state;    /* 0 not seen, 1 being counted, 2 counted */
	unsigned height;
	size_t nodes;
};

struct walk {
	yaml_document_t *doc;
	struct node_cost *cost; /* indexed by node id - 1 */
	size_t count;
	int err;                /* why to_json() gave NULL */
};

bool cloudconfig_is(const char *text, size_t len)
{
	size_t n = strlen(MARKER);

	/* "#cloud-config-archive" and "#cloud-config-jsonp" are other formats */
	return len >= n && !memcmp(text, MARKER, n) &&
		(len == n || strchr(" \t\r\n", text[n]));
}

static unsigned long line_of(const yaml_node_t *n)
{
	return (unsigned long)n->start_mark.line + 1;
}

/* Counts the nodes under id as if every alias were copied: libyaml's loader
 * shares an anchored node between its uses, so a "billion laughs" document
 * is small here, and only its count is large. */
static int count(struct walk *w, int id, struct hail_errbuf *e)
{
	yaml_node_t *n = yaml_document_get_node(w->doc, id);
	struct node_cost *c;
	size_t nodes = 1;
	unsigned height = 0;

	if (!n)
		return hail_fail(e, HAIL_E_INTERNAL, "user-data: cloud-config: dangling node");
	c = &w->cost[id - 1];
	if (c->state == 2)
		return 0;
	if (c->state == 1)
		return hail_fail(e, HAIL_E_USAGE, "user-data: cloud-config line %lu: a YAML alias "
				 "inside its own anchor", line_of(n));
	c->state = 1;
	if (n->type == YAML_SEQUENCE_NODE) {
		for (yaml_node_item_t *i = n->data.sequence.items.start;
		     i < n->data.sequence.items.top; i++) {
			if (count(w, *i, e) < 0)
				return HAIL_E_USAGE;
			nodes += w->cost[*i - 1].nodes;
			if (w->cost[*i - 1].height + 1 > height)
				height = w->cost[*i - 1].height + 1;
			if (nodes > CLOUDCONFIG_NODES_MAX)
				break;
		}
	} else if (n->type == YAML_MAPPING_NODE) {
		for (yaml_node_pair_t *p = n->data.mapping.pairs.start;
		     p < n->data.mapping.pairs.top && nodes <= CLOUDCONFIG_NODES_MAX; p++) {
			const int kids[2] = { p->key, p->value };

			for (int k = 0; k < 2; k++) {
				if (count(w, kids[k], e) < 0)
					return HAIL_E_USAGE;
				nodes += w->cost[kids[k] - 1].nodes;
				if (w->cost[kids[k] - 1].height + 1 > height)
					height = w->cost[kids[k] - 1].height + 1;
			}
		}
	}
	if (nodes > CLOUDCONFIG_NODES_MAX)
		return hail_fail(e, HAIL_E_USAGE, "user-data: cloud-config: its YAML aliases expand "
				 "to more than %d nodes (an alias bomb?)", CLOUDCONFIG_NODES_MAX);
	if (height > CLOUDCONFIG_DEPTH_MAX)
		return hail_fail(e, HAIL_E_USAGE, "user-data: cloud-config: nested more than %d "
				 "levels deep", CLOUDCONFIG_DEPTH_MAX);
	c->nodes = nodes;
	c->height = height;
	c->state = 2;
	return 0;
}

static bool scalar_is(const yaml_node_t *n, const char *s)
{
	return n->type == YAML_SCALAR_NODE && n->data.scalar.length == strlen(s) &&
		!memcmp(n->data.scalar.value, s, n->data.scalar.length);
}

static bool one_of(const char *v, const char *const *set)
{
	for (; *set; set++)
		if (!strcmp(v, *set))
			return true;
	return false;
}

/* [-+]?(0|[1-9][0-9]*)(\.[0-9]+)?: the numbers the JSON form takes. A
 * leading zero (YAML 1.1's octal), hex and 1:30 stay strings. */
static bool is_decimal(const char *v)
{
	const char *p = v + (*v == '-' || *v == '+');

	if (*p == '0' && p[1] >= '0' && p[1] <= '9')
		return false;
	if (*p < '0' || *p > '9')
		return false;
	while (*p >= '0' && *p <= '9')
		p++;
	if (*p == '.') {
		p++;
		if (*p < '0' || *p > '9')
			return false;
		while (*p >= '0' && *p <= '9')
			p++;
	}
	return *p == '\0';
}

/* A plain scalar resolves as PyYAML (cloud-init's parser) resolves it, so
 * "report-health: yes" means what it means to cloud-init users; a quoted
 * or block scalar is a string. */
static cJSON *scalar(struct walk *w, const yaml_node_t *n, struct hail_errbuf *e)
{
	static const char *const nulls[] = { "", "~", "null", "Null", "NULL", NULL };
	static const char *const trues[] = { "yes", "Yes", "YES", "true", "True", "TRUE",
					     "on", "On", "ON", NULL };
	static const char *const falses[] = { "no", "No", "NO", "false", "False", "FALSE",
					      "off", "Off", "OFF", NULL };
	const char *v = (const char *)n->data.scalar.value;

	if (strlen(v) != n->data.scalar.length) {
		w->err = hail_fail(e, HAIL_E_USAGE, "user-data: cloud-config line %lu: a NUL byte in a "
			  "value", line_of(n));
		return NULL;
	}
	if (n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE) {
		if (one_of(v, nulls))
			return cJSON_CreateNull();
		if (one_of(v, trues))
			return cJSON_CreateTrue();
		if (one_of(v, falses))
			return cJSON_CreateFalse();
		if (is_decimal(v))
			return cJSON_CreateNumber(strtod(v, NULL));
	}
	return cJSON_CreateString(v);
}

static cJSON *to_json(struct walk *w, int id, struct hail_errbuf *e);

static cJSON *mapping(struct walk *w, const yaml_node_t *n, struct hail_errbuf *e)
{
	cJSON *o = cJSON_CreateObject(), *v;

	if (!o)
		goto oom;
	for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
		yaml_node_t *k = yaml_document_get_node(w->doc, p->key);
		const char *key;

		if (!k || k->type != YAML_SCALAR_NODE) {
			w->err = hail_fail(e, HAIL_E_USAGE, "user-data: cloud-config line %lu: a key that is "
				  "not a string", line_of(n));
			goto fail;
		}
		key = (const char *)k->data.scalar.value;
		if (strlen(key) != k->data.scalar.length || !strcmp(key, "<<")) {
			w->err = hail_fail(e, HAIL_E_USAGE, "user-data: cloud-config line %lu: %s", line_of(k),
				  strcmp(key, "<<") ? "a NUL byte in a key" :
				  "YAML merge keys (<<) are not taken in hail settings");
			goto fail;
		}
		v = to_json(w, p->value, e);
		if (!v)
			goto fail;
		/* duplicates stay, as in JSON: the schema refuses them by name */
		cJSON_AddItemToObject(o, key, v);
	}
	return o;
oom:
	w->err = hail_fail(e, HAIL_E_INTERNAL, "out of memory");
fail:
	cJSON_Delete(o);
	return NULL;
}

/* Bounded by count(): at most CLOUDCONFIG_NODES_MAX nodes, DEPTH_MAX deep. */
static cJSON *to_json(struct walk *w, int id, struct hail_errbuf *e)
{
	yaml_node_t *n = yaml_document_get_node(w->doc, id);
	cJSON *a, *v;

	if (!n) {
		w->err = hail_fail(e, HAIL_E_INTERNAL, "user-data: cloud-config: dangling node");
		return NULL;
	}
	switch (n->type) {
	case YAML_SCALAR_NODE:
		v = scalar(w, n, e);
		break;
	case YAML_MAPPING_NODE:
		return mapping(w, n, e);
	case YAML_SEQUENCE_NODE:
		a = v = cJSON_CreateArray();
		for (yaml_node_item_t *i = n->data.sequence.items.start;
		     a && i < n->data.sequence.items.top; i++) {
			cJSON *item = to_json(w, *i, e);

			if (!item) {
				cJSON_Delete(a);
				return NULL;
			}
			cJSON_AddItemToArray(a, item);
		}
		break;
	default:
		v = NULL;
	}
	if (!v && !w->err)
		w->err = hail_fail(e, HAIL_E_INTERNAL, "out of memory");
	return v;
}

static int yaml_error(const yaml_parser_t *p, struct hail_errbuf *e)
{
	/* libyaml's problems are fixed phrases: no text of the document */
	return hail_fail(e, HAIL_E_USAGE, "user-data: cloud-config line %lu column %lu: %s",
			 (unsigned long)p->problem_mark.line + 1,
			 (unsigned long)p->problem_mark.column + 1,
			 p->problem ? p->problem : "not valid YAML");
}

/* The value of the root mapping's "hail" key, 0 when there is none. */
static int find_hail(yaml_document_t *doc, int *id, struct hail_errbuf *e)
{
	yaml_node_t *root = yaml_document_get_root_node(doc), *v;

	*id = 0;
	if (!root || root->type != YAML_MAPPING_NODE)
		return 0;       /* cloud-init's to refuse */
	for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top;
	     p++) {
		if (!scalar_is(yaml_document_get_node(doc, p->key), "hail"))
			continue;
		v = yaml_document_get_node(doc, p->value);
		if (*id)
			return hail_fail(e, HAIL_E_USAGE, "user-data: cloud-config line %lu: hail: "
					 "given twice", line_of(v));
		if (v->type != YAML_MAPPING_NODE)
			return hail_fail(e, HAIL_E_USAGE, "user-data: cloud-config line %lu: hail: "
					 "must be a mapping", line_of(v));
		*id = p->value;
	}
	return 0;
}

int cloudconfig_extract(const char *text, size_t len, char **json, size_t *json_len,
			struct hail_errbuf *e)
{
	yaml_parser_t parser;
	yaml_document_t doc, next;
	struct walk w = { &doc, NULL, 0, 0 };
	cJSON *top = NULL, *hail;
	bool loaded = false;
	int id = 0, ret = 0;

	*json = NULL;
	*json_len = 0;
	if (!yaml_parser_initialize(&parser))
		return hail_fail(e, HAIL_E_INTERNAL, "out of memory");
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	if (!yaml_parser_load(&parser, &doc)) {
		ret = yaml_error(&parser, e);
		goto out;
	}
	loaded = true;
	/* cloud-init takes one document; a second would be a guess */
	if (!yaml_parser_load(&parser, &next)) {
		ret = yaml_error(&parser, e);
		goto out;
	}
	if (yaml_document_get_root_node(&next)) {
		ret = hail_fail(e, HAIL_E_USAGE, "user-data: cloud-config line %lu: more than one "
				"YAML document", (unsigned long)next.start_mark.line + 1);
		yaml_document_delete(&next);
		goto out;
	}
	yaml_document_delete(&next);
	w.count = (size_t)(doc.nodes.top - doc.nodes.start);
	if (!w.count)
		goto out;
	w.cost = calloc(w.count, sizeof(*w.cost));
	if (!w.cost) {
		ret = hail_fail(e, HAIL_E_INTERNAL, "out of memory");
		goto out;
	}
	/* the whole document, not only hail's part: cloud-init expands it too */
	ret = count(&w, 1, e);
	if (ret == 0)
		ret = find_hail(&doc, &id, e);
	if (ret < 0 || !id)
		goto out;
	hail = to_json(&w, id, e);
	top = cJSON_CreateObject();
	if (!hail || !top) {
		cJSON_Delete(hail);
		ret = w.err ? w.err : hail_fail(e, HAIL_E_INTERNAL, "out of memory");
		goto out;
	}
	cJSON_AddItemToObject(top, "hail", hail);
	*json = cJSON_PrintUnformatted(top);
	if (!*json)
		ret = hail_fail(e, HAIL_E_INTERNAL, "out of memory");
	else
		*json_len = strlen(*json);
out:
	cJSON_Delete(top);
	free(w.cost);
	if (loaded)
		yaml_document_delete(&doc);
	yaml_parser_delete(&parser);
	return ret;
}
