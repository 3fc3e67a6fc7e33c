/*
 * Fuzzes the parsers of what an ACME CA sends: the JSON documents
 * (directory, order, authorization, challenge, account, renewal info,
 * problem), Link headers, Retry-After and RFC 3339 times.  The first byte
 * picks the parser; the rest is the input.  Accepted documents must hold
 * what the parsers promise.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "acme.h"
#include "http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_url(const char *u, int optional)
{
	if (u == NULL ? !optional : strncasecmp(u, "https://", 8) != 0)
		__builtin_trap();
}

static void
check_problem(const struct acme_problem *p)
{
	if (memchr(p->type, '\0', sizeof(p->type)) == NULL ||
	    memchr(p->detail, '\0', sizeof(p->detail)) == NULL)
		__builtin_trap();
	for (const char *c = p->detail; *c; c++)
		if ((unsigned char)*c < 0x20)
			__builtin_trap();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[512], *text;
	const char *body;
	size_t len;

	if (size < 1)
		return 0;
	body = (const char *)data + 1;
	len = size - 1;
	switch (data[0] % 8) {
	case 0: {
		struct acme_directory *d = acme_directory_parse(body, len, err,
		    sizeof(err));
		if (d != NULL) {
			check_url(d->new_nonce, 0);
			check_url(d->new_order, 0);
			check_url(d->renewal_info, 1);
			if (d->nprofiles > ACME_PROFILES_MAX ||
			    (d->nprofiles > 0 && !d->has_profiles))
				__builtin_trap();
			for (size_t i = 0; i < d->nprofiles; i++)
				if (!acme_profile_name_valid(d->profiles[i]) ||
				    !acme_directory_offers(d, d->profiles[i]))
					__builtin_trap();
		}
		acme_directory_free(d);
		break;
	}
	case 1: {
		struct acme_order *o = acme_order_parse(body, len, err,
		    sizeof(err));
		if (o != NULL) {
			if (o->nidentifiers < 1 ||
			    o->nidentifiers > ACME_IDENTIFIERS_MAX)
				__builtin_trap();
			for (size_t i = 0; i < o->nauthorizations; i++)
				check_url(o->authorizations[i], 0);
			check_url(o->finalize, 0);
			if (o->has_error)
				check_problem(&o->error);
		}
		acme_order_free(o);
		break;
	}
	case 2: {
		struct acme_authz *a = acme_authz_parse(body, len, err,
		    sizeof(err));
		if (a != NULL) {
			if (a->nchallenges > ACME_CHALLENGES_MAX)
				__builtin_trap();
			for (size_t i = 0; i < a->nchallenges; i++)
				check_url(a->challenges[i].url, 0);
		}
		acme_authz_free(a);
		break;
	}
	case 3: {
		struct acme_challenge *c = acme_challenge_parse(body, len, err,
		    sizeof(err));
		char txt[64];
		if (c != NULL && c->token != NULL &&
		    acme_dns01_txt(c->token, "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkx"
		    "ZsRGC9Xs", txt, sizeof(txt)) == 0 && strlen(txt) != 43)
			__builtin_trap();
		acme_challenge_free(c);
		break;
	}
	case 4: {
		struct acme_account *a = acme_account_parse(body, len, err,
		    sizeof(err));
		acme_account_free(a);
		struct acme_renewal_info *r = acme_renewal_info_parse(body, len,
		    err, sizeof(err));
		if (r != NULL && r->window_end <= r->window_start)
			__builtin_trap();
		acme_renewal_info_free(r);
		break;
	}
	case 5: {
		struct acme_problem p;
		if (acme_problem_parse(body, len, &p, err, sizeof(err)) == 0)
			check_problem(&p);
		break;
	}
	default:
		/* Header values: NUL-terminated text. */
		if ((text = malloc(len + 1)) == NULL)
			return 0;
		memcpy(text, body, len);
		text[len] = '\0';
		if (data[0] % 8 == 6) {
			struct http_link l[HTTP_LINKS_MAX];
			size_t n = 0;
			(void)http_parse_link(text, l, &n, HTTP_LINKS_MAX);
			if (n > HTTP_LINKS_MAX)
				__builtin_trap();
			for (size_t i = 0; i < n; i++) {
				free(l[i].url);
				free(l[i].rel);
			}
		} else {
			int64_t d, t;
			if (acme_retry_after(text, 1700000000, &d) == 0 &&
			    (d < 0 || d > ACME_RETRY_AFTER_MAX))
				__builtin_trap();
			(void)acme_time_parse(text, &t);
		}
		free(text);
		break;
	}
	return 0;
}
