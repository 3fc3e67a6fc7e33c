/*
 * Tracked certificates: the core behind the Track.* methods.  Every change
 * writes its activity event in the same write bracket as the change.
 */
#ifndef CERTFLEET_TRACK_H
#define CERTFLEET_TRACK_H

#include <stddef.h>
#include <stdint.h>

struct daemon;
struct cf_err;
struct store_item;

/*
 * Decodes pem locally and stores it as a new PEM-sourced item.  Returns the
 * new item (caller frees with store_item_free) or NULL with e set.
 */
struct store_item *track_add_pem(struct daemon *d, const char *pem,
		    size_t len, struct cf_err *e);

/* Returns the item or NULL with e (NOT_FOUND for an unknown id). */
struct store_item *track_get(struct daemon *d, int64_t id, struct cf_err *e);

int	 track_delete(struct daemon *d, int64_t id, struct cf_err *e);
/* Returns the updated item or NULL with e. */
struct store_item *track_set_active(struct daemon *d, int64_t id, int active,
		    struct cf_err *e);

/* The user-facing status of an item at now: valid, expired, not_yet_valid, error. */
const char *track_status(const struct store_item *item, int64_t now);


/* --- host items ------------------------------------------------------------ */

#define TRACK_HOST_MAX	253

/* A probe target as the user wrote it, checked. */
struct track_target {
	char	 host[TRACK_HOST_MAX + 1];	/* brackets removed from IPv6 */
	int	 port;
	char	 sni[TRACK_HOST_MAX + 1];	/* "" when none was given */
};

/* The seed's messages for refused host input. */
#define TRACK_MSG_BAD_URI \
	"Please double-check your input and try again (Invalid URI Format)"
#define TRACK_MSG_BAD_SCHEME \
	"Please double check your input and try again (HttpWebRequest error)"
#define TRACK_MSG_NOT_FOUND \
	"SSL Certificate not found. Please check spelling and try again."
#define TRACK_MSG_NO_DETAILS	"Unable to retrieve SSL Details"

/*
 * Parses HOST[:PORT], [V6]:PORT or https://HOST[:PORT]/...; sni may be NULL.
 * Returns 0, or -1 with e set to INVALID_ARGUMENT and the seed's message.
 */
int	 track_parse_target(const char *text, const char *sni,
	    struct track_target *t, struct cf_err *e);

/*
 * Called once when a check ends: item is the item as now stored (the callee
 * owns it; NULL when nothing was stored), created says this check stored it
 * first, e says why it failed or is NULL.
 */
typedef void	 track_done_fn(struct store_item *item, int created,
		    const struct cf_err *e, void *arg);

/* Probes t and stores it only if a certificate came back (Track.Add). */
int	 track_add_host(struct daemon *d, const struct track_target *t,
	    track_done_fn *done, void *arg, struct cf_err *e);
/* Probes t and stores or updates it whatever the outcome (Track.Import). */
int	 track_import_host(struct daemon *d, const struct track_target *t,
	    track_done_fn *done, void *arg, struct cf_err *e);
/* Checks a stored host item now; origin names who asked, for the feed. */
int	 track_check(struct daemon *d, int64_t id, const char *origin,
	    track_done_fn *done, void *arg, struct cf_err *e);

/* scheduler_start_fn: starts the scheduled check of item id (ctx: daemon). */
int	 track_scheduled_start(void *ctx, int64_t id);

/*
 * The facts of item that findings are judged from (findings.h); public_store:
 * chains are judged by the system store, so a valid one is a public CA's.
 * A deactivated item is not judged by its checks.
 */
struct findings_input;
void	 track_findings_input(const struct store_item *item, int public_store,
	    struct findings_input *in);

#endif
