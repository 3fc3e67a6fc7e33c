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

#endif
