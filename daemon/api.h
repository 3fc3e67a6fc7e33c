/*
 * RPC handlers: one file per service, each thin (check parameters, call the
 * core, encode the answer).  The method table is in api.c.
 */
#ifndef CERTFLEET_API_H
#define CERTFLEET_API_H

#include <stddef.h>
#include <stdint.h>

#include <msgpack.h>

#include "rpc.h"

struct cf_err;
struct daemon;
struct store_item;

extern const struct rpc_method api_methods[];

/*
 * Parameter readers.  Each returns 0 (value in *out, or untouched when the
 * key is absent and not required) or -1 after answering the call with
 * INVALID_ARGUMENT; the caller then returns at once.
 */
int	 api_params_only(struct rpc_call *call, const msgpack_object *params,
	    const char *const *names);
int	 api_param_int(struct rpc_call *call, const msgpack_object *params,
	    const char *key, int required, int64_t min, int64_t max,
	    int64_t *out);
int	 api_param_str(struct rpc_call *call, const msgpack_object *params,
	    const char *key, int required, size_t maxlen, const char **out,
	    size_t *len);

int	 api_param_bool(struct rpc_call *call, const msgpack_object *params,
	    const char *key, int required, int *out);
/* A new NUL-terminated copy (caller frees); a NUL inside is refused. */
int	 api_param_text(struct rpc_call *call, const msgpack_object *params,
	    const char *key, int required, size_t maxlen, char **out);
/* An array of strings as new copies (caller frees with api_texts_free). */
int	 api_param_texts(struct rpc_call *call, const msgpack_object *params,
	    const char *key, size_t maxn, size_t maxlen, char ***out,
	    size_t *n);
void	 api_texts_free(char **v, size_t n);

/* Reads the required "id" parameter and nothing else. */
int	 api_param_id(struct rpc_call *call, const msgpack_object *params,
	    int64_t *id);

/* Answers the call with e's code and message. */
void	 api_fail(struct rpc_call *call, const struct cf_err *e);

/*
 * Answers with an array of n values already packed into sb (items are packed
 * apart first, since their count is known only at the end); destroys sb.
 */
void	 api_reply_array(struct rpc_call *call, msgpack_sbuffer *sb, size_t n);

void	 api_pack_time(msgpack_packer *pk, const char *key, int64_t t);
/* A JSON document's text (a stored event's data) as msgpack; {} when it
 * does not parse. */
void	 api_pack_json_text(msgpack_packer *pk, const char *text);
/* Answers {id, deleted: true}. */
void	 api_reply_deleted(struct rpc_call *call, int64_t id);
void	 api_pack_strs(msgpack_packer *pk, const char *key, char *const *v,
	    size_t n);
/*
 * A certificate's facts as API_FACT_KEYS map entries, under the same names
 * for tracked and managed certificates; nil values when f is NULL.
 */
#define API_FACT_KEYS	15
struct x509_facts;
void	 api_pack_facts(msgpack_packer *pk, const struct x509_facts *f,
	    int64_t now);
/* public_store: chains are judged by the system store (no ca-file), so a
 * valid one is a public CA's (long_validity applies). */
void	 api_pack_item(msgpack_packer *pk, const struct store_item *item,
	    int64_t now, int public_store);

void	 api_daemon_status(struct rpc_call *, const msgpack_object *);
void	 api_check_run(struct rpc_call *, const msgpack_object *);
void	 api_daemon_methods(struct rpc_call *, const msgpack_object *);
void	 api_track_add(struct rpc_call *, const msgpack_object *);
void	 api_track_list(struct rpc_call *, const msgpack_object *);
void	 api_track_show(struct rpc_call *, const msgpack_object *);
void	 api_track_delete(struct rpc_call *, const msgpack_object *);
void	 api_track_activate(struct rpc_call *, const msgpack_object *);
void	 api_track_deactivate(struct rpc_call *, const msgpack_object *);
void	 api_track_check(struct rpc_call *, const msgpack_object *);
void	 api_track_check_all(struct rpc_call *, const msgpack_object *);
void	 api_track_import(struct rpc_call *, const msgpack_object *);
void	 api_track_history(struct rpc_call *, const msgpack_object *);
void	 api_track_raw(struct rpc_call *, const msgpack_object *);
void	 api_events_list(struct rpc_call *, const msgpack_object *);
void	 api_events_watch(struct rpc_call *, const msgpack_object *);
void	 api_events_kinds(struct rpc_call *, const msgpack_object *);
void	 api_notify_add(struct rpc_call *, const msgpack_object *);
void	 api_notify_list(struct rpc_call *, const msgpack_object *);
void	 api_notify_show(struct rpc_call *, const msgpack_object *);
void	 api_notify_delete(struct rpc_call *, const msgpack_object *);
void	 api_notify_test(struct rpc_call *, const msgpack_object *);
void	 api_notify_retry(struct rpc_call *, const msgpack_object *);
void	 api_notify_enable(struct rpc_call *, const msgpack_object *);
void	 api_cert_deploy_add(struct rpc_call *, const msgpack_object *);
void	 api_cert_deploy_list(struct rpc_call *, const msgpack_object *);
void	 api_cert_deploy_remove(struct rpc_call *, const msgpack_object *);
void	 api_cert_deploy_run(struct rpc_call *, const msgpack_object *);
struct store_deploy;
/* redact: reload and last_error withheld (the monitor role). */
void	 api_pack_deploy_target(msgpack_packer *pk,
	    const struct store_deploy *t, int redact);
/* Ends every Events.Watch stream (at shutdown), answering each. */
void	 api_events_watch_stop(struct daemon *d);
/* Answers every Check.Run --all walk under way (UNAVAILABLE) and frees. */
void	 api_check_stop(struct daemon *d);
void	 api_debug_set_clock(struct rpc_call *, const msgpack_object *);
void	 api_ca_add(struct rpc_call *, const msgpack_object *);
void	 api_ca_list(struct rpc_call *, const msgpack_object *);
void	 api_ca_show(struct rpc_call *, const msgpack_object *);
void	 api_ca_delete(struct rpc_call *, const msgpack_object *);
void	 api_cert_create(struct rpc_call *, const msgpack_object *);
void	 api_cert_update(struct rpc_call *, const msgpack_object *);
void	 api_cert_csr(struct rpc_call *, const msgpack_object *);
void	 api_cert_show(struct rpc_call *, const msgpack_object *);
void	 api_cert_list(struct rpc_call *, const msgpack_object *);
void	 api_cert_key(struct rpc_call *, const msgpack_object *);
void	 api_cert_pem(struct rpc_call *, const msgpack_object *);
void	 api_cert_import(struct rpc_call *, const msgpack_object *);
void	 api_cert_delete(struct rpc_call *, const msgpack_object *);
void	 api_cert_renew(struct rpc_call *, const msgpack_object *);
void	 api_cert_revoke(struct rpc_call *, const msgpack_object *);

#endif
