/*
 * The method table and the parameter checks every handler shares.  Every
 * parameter is hostile until one of these readers has accepted it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "certfleet/methods.h"
#include "certfleet/wire.h"
#include "api.h"
#include "clock.h"
#include "x509.h"
#include "daemon.h"

const struct rpc_method api_methods[] = {
	{ M_DAEMON_STATUS, api_daemon_status, RPC_ROLE_MONITOR,
	  "daemon version, uptime, schema version and counts" },
	{ M_DAEMON_METHODS, api_daemon_methods, RPC_ROLE_MONITOR,
	  "the methods this daemon serves" },
	{ M_TRACK_ADD, api_track_add, RPC_ROLE_OPERATOR,
	  "track a certificate from PEM text" },
	{ M_TRACK_LIST, api_track_list, RPC_ROLE_MONITOR,
	  "list tracked certificates, a page at a time" },
	{ M_TRACK_SHOW, api_track_show, RPC_ROLE_MONITOR,
	  "one tracked certificate's facts" },
	{ M_TRACK_DELETE, api_track_delete, RPC_ROLE_OPERATOR,
	  "stop tracking a certificate" },
	{ M_TRACK_ACTIVATE, api_track_activate, RPC_ROLE_OPERATOR,
	  "resume scheduled checks of an item" },
	{ M_TRACK_DEACTIVATE, api_track_deactivate, RPC_ROLE_OPERATOR,
	  "suspend scheduled checks of an item" },
	{ M_TRACK_CHECK, api_track_check, RPC_ROLE_OPERATOR,
	  "check a host item now" },
	{ M_TRACK_CHECK_ALL, api_track_check_all, RPC_ROLE_OPERATOR,
	  "check every active host item now, streaming progress" },
	{ M_TRACK_IMPORT, api_track_import, RPC_ROLE_OPERATOR,
	  "add or update many host targets, streaming progress" },
	{ M_TRACK_HISTORY, api_track_history, RPC_ROLE_OPERATOR,
	  "the snapshots of an item's presented chain" },
	{ M_TRACK_RAW, api_track_raw, RPC_ROLE_OPERATOR,
	  "one snapshot's chain as PEM" },
	{ M_EVENTS_LIST, api_events_list, RPC_ROLE_MONITOR,
	  "the activity feed, newest first (filters: after, before, kinds, "
	  "subject)" },
	{ M_EVENTS_WATCH, api_events_watch, RPC_ROLE_MONITOR,
	  "stream events as they commit, from a cursor (after)" },
	{ M_EVENTS_KINDS, api_events_kinds, RPC_ROLE_MONITOR,
	  "every event kind with its usual severity" },
	{ M_CHECK_RUN, api_check_run, RPC_ROLE_MONITOR,
	  "judge a certificate, a host (probed, nothing saved) or the fleet "
	  "as a monitoring check" },
	{ M_CERT_DEPLOY_ADD, api_cert_deploy_add, RPC_ROLE_ADMIN,
	  "add a deploy target: files in certbot's names, then a reload" },
	{ M_CERT_DEPLOY_LIST, api_cert_deploy_list, RPC_ROLE_MONITOR,
	  "a certificate's deploy targets and their state" },
	{ M_CERT_DEPLOY_REMOVE, api_cert_deploy_remove, RPC_ROLE_ADMIN,
	  "remove a deploy target (its files stay)" },
	{ M_CERT_DEPLOY_RUN, api_cert_deploy_run, RPC_ROLE_ADMIN,
	  "deploy now; answered when done, with the targets" },
	{ M_NOTIFY_ADD, api_notify_add, RPC_ROLE_OPERATOR,
	  "add a notification sink (webhook, email; exec: admin only)" },
	{ M_NOTIFY_LIST, api_notify_list, RPC_ROLE_OPERATOR,
	  "list notification sinks with their delivery counts" },
	{ M_NOTIFY_SHOW, api_notify_show, RPC_ROLE_OPERATOR,
	  "one notification sink" },
	{ M_NOTIFY_DELETE, api_notify_delete, RPC_ROLE_OPERATOR,
	  "delete a notification sink and its queued deliveries" },
	{ M_NOTIFY_TEST, api_notify_test, RPC_ROLE_OPERATOR,
	  "send a test event to one sink through the real path" },
	{ M_NOTIFY_RETRY, api_notify_retry, RPC_ROLE_OPERATOR,
	  "re-queue the deliveries a sink gave up" },
	{ M_NOTIFY_ENABLE, api_notify_enable, RPC_ROLE_OPERATOR,
	  "enable a sink again (after a 410 Gone disabled it)" },
	{ M_CA_ADD, api_ca_add, RPC_ROLE_OPERATOR,
	  "add a CA profile, or set a built-in profile's EAB" },
	{ M_CA_LIST, api_ca_list, RPC_ROLE_MONITOR,
	  "list CA profiles" },
	{ M_CA_SHOW, api_ca_show, RPC_ROLE_MONITOR,
	  "one CA profile" },
	{ M_CA_DELETE, api_ca_delete, RPC_ROLE_OPERATOR,
	  "delete a CA profile no certificate uses" },
	{ M_CERT_CREATE, api_cert_create, RPC_ROLE_OPERATOR,
	  "create a managed certificate as a draft" },
	{ M_CERT_UPDATE, api_cert_update, RPC_ROLE_OPERATOR,
	  "edit a draft certificate" },
	{ M_CERT_CSR, api_cert_csr, RPC_ROLE_OPERATOR,
	  "make a draft's key and CSR; it becomes pending" },
	{ M_CERT_SHOW, api_cert_show, RPC_ROLE_MONITOR,
	  "one managed certificate, with its orders" },
	{ M_CERT_LIST, api_cert_list, RPC_ROLE_MONITOR,
	  "list managed certificates, optionally by status" },
	{ M_CERT_KEY, api_cert_key, RPC_ROLE_ADMIN,
	  "a managed certificate's private key (admin only)" },
	{ M_CERT_PEM, api_cert_pem, RPC_ROLE_OPERATOR,
	  "a managed certificate and its chain as PEM" },
	{ M_CERT_IMPORT, api_cert_import, RPC_ROLE_OPERATOR,
	  "import a certificate with its key and chain" },
	{ M_CERT_DELETE, api_cert_delete, RPC_ROLE_OPERATOR,
	  "delete a managed certificate and its history" },
	{ M_CERT_RENEW, api_cert_renew, RPC_ROLE_OPERATOR,
	  "order a new certificate with a new key now" },
	{ M_CERT_REVOKE, api_cert_revoke, RPC_ROLE_OPERATOR,
	  "ask the CA to revoke a certificate" },
	{ M_DEBUG_SET_CLOCK, api_debug_set_clock, RPC_ROLE_ADMIN,
	  "move the daemon's clock (only with test-hooks)" },
	{ NULL, NULL, 0, NULL },
};

static int
key_is(const msgpack_object *k, const char *name)
{
	return k->type == MSGPACK_OBJECT_STR &&
	    k->via.str.size == strlen(name) &&
	    memcmp(k->via.str.ptr, name, k->via.str.size) == 0;
}

int
api_params_only(struct rpc_call *call, const msgpack_object *params,
    const char *const *names)
{
	for (uint32_t i = 0; i < params->via.map.size; i++) {
		const msgpack_object *k = &params->via.map.ptr[i].key;
		int known = 0;

		for (const char *const *n = names; *n != NULL && !known; n++)
			known = key_is(k, *n);
		if (known)
			continue;
		if (k->type != MSGPACK_OBJECT_STR)
			rpc_call_error(call, WIRE_INVALID_ARGUMENT,
			    "parameter names must be strings");
		else
			rpc_call_error(call, WIRE_INVALID_ARGUMENT,
			    "unknown parameter '%.*s'",
			    (int)(k->via.str.size > 64 ? 64 : k->via.str.size),
			    k->via.str.ptr);
		return -1;
	}
	return 0;
}

int
api_param_int(struct rpc_call *call, const msgpack_object *params,
    const char *key, int required, int64_t min, int64_t max, int64_t *out)
{
	const msgpack_object *v = wire_map_get(params, key);
	int64_t n;

	if (v == NULL || v->type == MSGPACK_OBJECT_NIL) {
		if (!required)
			return 0;
		rpc_call_error(call, WIRE_INVALID_ARGUMENT,
		    "parameter '%s' is required", key);
		return -1;
	}
	if (v->type == MSGPACK_OBJECT_POSITIVE_INTEGER && v->via.u64 <= INT64_MAX)
		n = (int64_t)v->via.u64;
	else if (v->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
		n = v->via.i64;
	else {
		rpc_call_error(call, WIRE_INVALID_ARGUMENT,
		    "parameter '%s' must be an integer", key);
		return -1;
	}
	if (n < min || n > max) {
		rpc_call_error(call, WIRE_INVALID_ARGUMENT,
		    "parameter '%s' must be in %lld..%lld", key, (long long)min,
		    (long long)max);
		return -1;
	}
	*out = n;
	return 0;
}

int
api_param_str(struct rpc_call *call, const msgpack_object *params,
    const char *key, int required, size_t maxlen, const char **out,
    size_t *len)
{
	const msgpack_object *v = wire_map_get(params, key);

	if (v == NULL || v->type == MSGPACK_OBJECT_NIL) {
		if (!required)
			return 0;
		rpc_call_error(call, WIRE_INVALID_ARGUMENT,
		    "parameter '%s' is required", key);
		return -1;
	}
	if (v->type != MSGPACK_OBJECT_STR && v->type != MSGPACK_OBJECT_BIN) {
		rpc_call_error(call, WIRE_INVALID_ARGUMENT,
		    "parameter '%s' must be a string", key);
		return -1;
	}
	if (v->via.str.size > maxlen) {
		rpc_call_error(call, WIRE_INVALID_ARGUMENT,
		    "parameter '%s' is too large (%u bytes, limit %zu)", key,
		    v->via.str.size, maxlen);
		return -1;
	}
	*out = v->via.str.ptr;
	*len = v->via.str.size;
	return 0;
}

int
api_param_bool(struct rpc_call *call, const msgpack_object *params,
    const char *key, int required, int *out)
{
	const msgpack_object *v = wire_map_get(params, key);

	if (v == NULL || v->type == MSGPACK_OBJECT_NIL) {
		if (!required)
			return 0;
		rpc_call_error(call, WIRE_INVALID_ARGUMENT,
		    "parameter '%s' is required", key);
		return -1;
	}
	if (v->type != MSGPACK_OBJECT_BOOLEAN) {
		rpc_call_error(call, WIRE_INVALID_ARGUMENT,
		    "parameter '%s' must be true or false", key);
		return -1;
	}
	*out = v->via.boolean;
	return 0;
}

/* A NUL-terminated copy of a string that holds no NUL. */
static char *
text_copy(struct rpc_call *call, const char *key, const char *p, size_t len)
{
	char *s;

	if (memchr(p, '\0', len) != NULL) {
		rpc_call_error(call, WIRE_INVALID_ARGUMENT,
		    "parameter '%s' contains a NUL byte", key);
		return NULL;
	}
	if ((s = malloc(len + 1)) == NULL) {
		rpc_call_error(call, WIRE_RESOURCE_EXHAUSTED, "out of memory");
		return NULL;
	}
	memcpy(s, p, len);
	s[len] = '\0';
	return s;
}

int
api_param_text(struct rpc_call *call, const msgpack_object *params,
    const char *key, int required, size_t maxlen, char **out)
{
	const char *p = NULL;
	size_t len = 0;

	if (api_param_str(call, params, key, required, maxlen, &p, &len) == -1)
		return -1;
	if (p == NULL)
		return 0;
	if ((*out = text_copy(call, key, p, len)) == NULL)
		return -1;
	return 0;
}

int
api_param_texts(struct rpc_call *call, const msgpack_object *params,
    const char *key, size_t maxn, size_t maxlen, char ***out, size_t *n)
{
	const msgpack_object *v = wire_map_get(params, key);
	char **a;

	*out = NULL;
	*n = 0;
	if (v == NULL || v->type == MSGPACK_OBJECT_NIL)
		return 0;
	if (v->type != MSGPACK_OBJECT_ARRAY) {
		rpc_call_error(call, WIRE_INVALID_ARGUMENT,
		    "parameter '%s' must be an array of strings", key);
		return -1;
	}
	if (v->via.array.size > maxn) {
		rpc_call_error(call, WIRE_INVALID_ARGUMENT, "parameter '%s' has "
		    "%u entries, limit %zu", key, v->via.array.size, maxn);
		return -1;
	}
	if ((a = calloc(v->via.array.size + 1, sizeof(*a))) == NULL) {
		rpc_call_error(call, WIRE_RESOURCE_EXHAUSTED, "out of memory");
		return -1;
	}
	for (uint32_t i = 0; i < v->via.array.size; i++) {
		const msgpack_object *s = &v->via.array.ptr[i];

		if (s->type != MSGPACK_OBJECT_STR || s->via.str.size > maxlen) {
			rpc_call_error(call, WIRE_INVALID_ARGUMENT, "parameter "
			    "'%s' must be an array of strings of at most %zu "
			    "bytes", key, maxlen);
			api_texts_free(a, i);
			return -1;
		}
		if ((a[i] = text_copy(call, key, s->via.str.ptr,
		    s->via.str.size)) == NULL) {
			api_texts_free(a, i);
			return -1;
		}
	}
	*out = a;
	*n = v->via.array.size;
	return 0;
}

void
api_texts_free(char **v, size_t n)
{
	for (size_t i = 0; v != NULL && i < n; i++)
		free(v[i]);
	free(v);
}

void
api_fail(struct rpc_call *call, const struct cf_err *e)
{
	rpc_call_error(call, e->code ? e->code : WIRE_INTERNAL, "%s", e->msg);
}

void
api_pack_strs(msgpack_packer *pk, const char *key, char *const *v, size_t n)
{
	wire_pack_key(pk, key);
	msgpack_pack_array(pk, n);
	for (size_t i = 0; i < n; i++)
		wire_pack_str(pk, v[i]);
}

void
api_pack_facts(msgpack_packer *pk, const struct x509_facts *f, int64_t now)
{
	char buf[40];

	wire_pack_kv_str(pk, "common_name", f ? f->common_name : NULL);
	wire_pack_kv_str(pk, "valid_from",
	    f ? clock_rfc3339(f->valid_from, buf, sizeof(buf)) : NULL);
	wire_pack_kv_str(pk, "valid_until",
	    f ? clock_rfc3339(f->valid_until, buf, sizeof(buf)) : NULL);
	wire_pack_key(pk, "days_remaining");
	if (f)
		msgpack_pack_int64(pk, x509_days_remaining(f->valid_until, now));
	else
		msgpack_pack_nil(pk);
	wire_pack_kv_str(pk, "issued_by", f ? f->issued_by : NULL);
	wire_pack_kv_str(pk, "issuer", f ? f->issuer : NULL);
	wire_pack_kv_str(pk, "subject", f ? f->subject : NULL);
	wire_pack_kv_str(pk, "organization", f ? f->organization : NULL);
	wire_pack_kv_str(pk, "organizational_unit",
	    f ? f->organizational_unit : NULL);
	wire_pack_kv_str(pk, "location", f ? f->location : NULL);
	wire_pack_kv_str(pk, "serial_number", f ? f->serial_number : NULL);
	wire_pack_kv_str(pk, "signature_algorithm",
	    f ? f->signature_algorithm : NULL);
	wire_pack_kv_str(pk, "public_key", f ? f->public_key : NULL);
	api_pack_strs(pk, "subject_alt_names", f ? f->sans : NULL, f ? f->nsans : 0);
	wire_pack_kv_str(pk, "fingerprint_sha256",
	    f ? f->fingerprint_sha256 : NULL);
}

int
api_param_id(struct rpc_call *call, const msgpack_object *params, int64_t *id)
{
	static const char *const names[] = { "id", NULL };

	if (api_params_only(call, params, names) == -1)
		return -1;
	return api_param_int(call, params, "id", 1, 1, INT64_MAX, id);
}

void
api_reply_deleted(struct rpc_call *call, int64_t id)
{
	msgpack_packer *pk = rpc_call_result(call);

	msgpack_pack_map(pk, 2);
	wire_pack_kv_int(pk, "id", id);
	wire_pack_kv_bool(pk, "deleted", 1);
	rpc_call_reply(call);
}

void
api_pack_time(msgpack_packer *pk, const char *key, int64_t t)
{
	char buf[40];

	wire_pack_key(pk, key);
	if (t == 0)
		msgpack_pack_nil(pk);
	else
		wire_pack_str(pk, clock_rfc3339(t, buf, sizeof(buf)));
}

static void
pack_json(msgpack_packer *pk, json_t *j, int depth)
{
	const char *key;
	json_t *v;
	size_t i;

	switch (depth < WIRE_DEPTH_MAX - 4 ? json_typeof(j) : JSON_NULL) {
	case JSON_OBJECT:
		msgpack_pack_map(pk, json_object_size(j));
		json_object_foreach(j, key, v) {
			wire_pack_key(pk, key);
			pack_json(pk, v, depth + 1);
		}
		break;
	case JSON_ARRAY:
		msgpack_pack_array(pk, json_array_size(j));
		json_array_foreach(j, i, v)
			pack_json(pk, v, depth + 1);
		break;
	case JSON_STRING:
		wire_pack_strn(pk, json_string_value(j), json_string_length(j));
		break;
	case JSON_INTEGER:
		msgpack_pack_int64(pk, json_integer_value(j));
		break;
	case JSON_REAL:
		msgpack_pack_double(pk, json_real_value(j));
		break;
	case JSON_TRUE:
		msgpack_pack_true(pk);
		break;
	case JSON_FALSE:
		msgpack_pack_false(pk);
		break;
	default:
		msgpack_pack_nil(pk);
		break;
	}
}

void
api_pack_json_text(msgpack_packer *pk, const char *text)
{
	json_t *j = text ? json_loads(text, JSON_REJECT_DUPLICATES, NULL) : NULL;

	if (j == NULL)
		msgpack_pack_map(pk, 0);
	else
		pack_json(pk, j, 0);
	json_decref(j);
}

void
api_reply_array(struct rpc_call *call, msgpack_sbuffer *sb, size_t n)
{
	msgpack_packer *pk = rpc_call_result(call);

	msgpack_pack_array(pk, n);
	msgpack_sbuffer_write(pk->data, sb->data, sb->size);
	msgpack_sbuffer_destroy(sb);
	rpc_call_reply(call);
}
