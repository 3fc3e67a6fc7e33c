/*
 * certfleet, the client: a table of commands, each a row with its words,
 * handler, usage and help; --help and the command list come from it.
 */
#ifndef CERTFLEET_CLI_H
#define CERTFLEET_CLI_H

#include <stdint.h>

#include <msgpack.h>

#include "conn.h"

enum cli_exit {
	EXIT_OK = 0,
	EXIT_REFUSED = 1,	/* the daemon said no */
	EXIT_USAGE = 2,		/* the command line is wrong */
	EXIT_UNREACHABLE = 3,	/* no daemon to ask */
};

struct cli_cmd;

struct cli {
	const char		*socket;
	int			 json;
	int			 jsonl;		/* listings: one object a line */
	const struct cli_cmd	*cmd;
	struct cf_conn		*conn;
};

typedef int	 cli_fn(struct cli *cli, int argc, char **argv);

struct cli_cmd {
	const char	*words;		/* "track add" */
	cli_fn		*fn;
	const char	*args;		/* usage after the words */
	const char	*summary;	/* one line for the command list */
	const char	*help;		/* the rest of --help */
	const char	*method;	/* RPC method it calls, for the docs test */
};

extern const struct cli_cmd cli_track_cmds[];
extern const struct cli_cmd cli_misc_cmds[];
extern const struct cli_cmd cli_ca_cmds[];
extern const struct cli_cmd cli_cert_cmds[];
extern const struct cli_cmd cli_notify_cmds[];
extern const struct cli_cmd cli_deploy_cmds[];
extern const struct cli_cmd cli_check_cmds[];
extern const struct cli_cmd cli_audit_cmds[];

/*
 * Calls method with params (a packed msgpack map, or NULL).  On success
 * returns EXIT_OK with reply filled (free with cf_reply_free); otherwise
 * prints one line to stderr and returns the exit code.
 */
int	 cli_call(struct cli *cli, const char *method, const msgpack_sbuffer *params,
	    cf_stream_fn *stream, void *arg, struct cf_reply *reply);
/*
 * Calls a method whose result is an array of maps and prints it: one JSON
 * document with --json, else a table of the keys under headers.
 */
int	 cli_call_list(struct cli *cli, const char *method,
	    const msgpack_sbuffer *params, size_t ncols,
	    const char *const *headers, const char *const *keys);
/*
 * Pages through a list method ({after, limit} plus filter_key: filter_value
 * when filter_key is given) until a short page, and prints every item: one
 * JSON array with --json, else one table of keys under headers.
 */
#define CLI_LIST_PAGE	1000
int	 cli_list_pages(struct cli *cli, const char *method,
	    const char *filter_key, const char *filter_value, size_t ncols,
	    const char *const *headers, const char *const *keys);
/* Every item of a list method ({after, limit} pages), to fn, in constant
 * memory; EXIT_OK or the failure (said on stderr). */
typedef void	 cli_item_fn(const msgpack_object *item, void *arg);
int	 cli_each_page(struct cli *cli, const char *method, cli_item_fn *fn,
	    void *arg);

/* Prints "certfleet: <words>: <message>" and the usage line; EXIT_USAGE. */
int	 cli_usage_error(struct cli *cli, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
/* Prints "certfleet: <message>"; returns code. */
int	 cli_fail(int code, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
/* params = {id: id}; the caller destroys sb. */
void	 cli_pack_id(msgpack_sbuffer *sb, int64_t id);
/*
 * Prints one object result: JSON with --json, else through print (the
 * human view); frees the reply.  EXIT_OK, or EXIT_REFUSED when the JSON
 * could not be written.
 */
int	 cli_finish_object(struct cli *cli, struct cf_reply *r,
	    void (*print)(const msgpack_object *));
/* Parses a positive item id. */
int	 cli_parse_id(const char *s, int64_t *id);
int	 cli_parse_int(const char *s, int64_t min, int64_t max, int64_t *out);

#endif
