/*
 * Private keys at rest and in motion.  The master key lives in one 0600 file
 * of the state directory; sealed values carry their own nonce and are bound
 * to their row by the AAD.  Key generation runs in a small pool of worker
 * threads whose results come back to the loop through a pipe.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "daemon.h"
#include "keystore.h"

struct keystore {
	unsigned char	 key[KEYSTORE_MASTER_LEN];
	EVP_CIPHER	*cipher;	/* AES-256-GCM, fetched once */
};

/*
 * Every failure goes through here, so the OpenSSL error queue is drained
 * where the failure happened and never blames the next, unrelated call.
 */
static int __attribute__((format(printf, 3, 4)))
fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	ERR_clear_error();
	if (err == NULL || errlen == 0)
		return -1;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

/* "what (OpenSSL's reason)": only for operations on our own data. */
static int
fail_ossl(char *err, size_t errlen, const char *what)
{
	unsigned long e = ERR_peek_last_error();
	const char *reason = e != 0 ? ERR_reason_error_string(e) : NULL;

	return fail(err, errlen, "%s (%s)", what,
	    reason != NULL ? reason : "no detail from OpenSSL");
}

/* --- master key ----------------------------------------------------------- */

static int
read_full(int fd, unsigned char *buf, size_t len)
{
	ssize_t n;

	while (len > 0) {
		if ((n = read(fd, buf, len)) == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = EIO;	/* shrank under us */
			return -1;
		}
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

static int
write_full(int fd, const unsigned char *buf, size_t len)
{
	ssize_t n;

	while (len > 0) {
		if ((n = write(fd, buf, len)) == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* The file must be ours alone and exactly a key long. */
static int
master_check(int fd, const char *dir, char *err, size_t errlen)
{
	struct stat st;

	if (fstat(fd, &st) == -1)
		return fail(err, errlen, "%s/%s: %s", dir, KEYSTORE_MASTER_FILE,
		    strerror(errno));
	if (!S_ISREG(st.st_mode))
		return fail(err, errlen, "%s/%s: not a regular file", dir,
		    KEYSTORE_MASTER_FILE);
	if (st.st_uid != geteuid())
		return fail(err, errlen, "%s/%s: owned by uid %u, not by the "
		    "daemon's uid %u", dir, KEYSTORE_MASTER_FILE,
		    (unsigned)st.st_uid, (unsigned)geteuid());
	if ((st.st_mode & 077) != 0)
		return fail(err, errlen, "%s/%s: mode %04o gives group or others "
		    "access; it must be 0600 (chmod 600 %s/%s)", dir,
		    KEYSTORE_MASTER_FILE, (unsigned)(st.st_mode & 07777), dir,
		    KEYSTORE_MASTER_FILE);
	if (st.st_size != KEYSTORE_MASTER_LEN)
		return fail(err, errlen, "%s/%s: %jd bytes where a master key has "
		    "%d; refusing it", dir, KEYSTORE_MASTER_FILE,
		    (intmax_t)st.st_size, KEYSTORE_MASTER_LEN);
	return 0;
}

/* 0 read, 1 missing, -1 refused or unreadable (err set). */
static int
master_read(int dfd, const char *dir, struct keystore *ks, char *err,
    size_t errlen)
{
	int fd, rc = 0;

	/* O_NONBLOCK: a FIFO planted there must not hang the start. */
	fd = openat(dfd, KEYSTORE_MASTER_FILE,
	    O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd == -1) {
		if (errno == ENOENT)
			return 1;
		if (errno == ELOOP)
			return fail(err, errlen, "%s/%s: a symbolic link; refusing "
			    "it", dir, KEYSTORE_MASTER_FILE);
		return fail(err, errlen, "%s/%s: %s", dir, KEYSTORE_MASTER_FILE,
		    strerror(errno));
	}
	if (master_check(fd, dir, err, errlen) == -1)
		rc = -1;
	else if (read_full(fd, ks->key, sizeof(ks->key)) == -1)
		rc = fail(err, errlen, "%s/%s: %s", dir, KEYSTORE_MASTER_FILE,
		    strerror(errno));
	close(fd);
	return rc;
}

/*
 * 0 created, 1 someone else created it first, -1 failed (err set).  A file
 * this call could not finish is removed, so no half-written key remains.
 */
static int
master_create(int dfd, const char *dir, struct keystore *ks, char *err,
    size_t errlen)
{
	const char *why = NULL;
	int fd;

	fd = openat(dfd, KEYSTORE_MASTER_FILE,
	    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd == -1) {
		if (errno == EEXIST)
			return 1;
		return fail(err, errlen, "%s/%s: cannot create: %s", dir,
		    KEYSTORE_MASTER_FILE, strerror(errno));
	}
	if (RAND_priv_bytes(ks->key, sizeof(ks->key)) != 1)
		why = "no randomness from OpenSSL";
	else if (fchmod(fd, 0600) == -1 ||
	    write_full(fd, ks->key, sizeof(ks->key)) == -1 || fsync(fd) == -1)
		why = strerror(errno);
	if (close(fd) == -1 && why == NULL)
		why = strerror(errno);
	/* The directory entry must survive a crash as well as the bytes. */
	if (why == NULL && fsync(dfd) == -1)
		why = strerror(errno);
	if (why == NULL)
		return 0;
	OPENSSL_cleanse(ks->key, sizeof(ks->key));
	unlinkat(dfd, KEYSTORE_MASTER_FILE, 0);
	return fail(err, errlen, "%s/%s: cannot write a new master key: %s", dir,
	    KEYSTORE_MASTER_FILE, why);
}

struct keystore *
keystore_open(const char *state_dir, char *err, size_t errlen)
{
	struct keystore *ks;
	int dfd, rc = 1;

	if ((ks = calloc(1, sizeof(*ks))) == NULL) {
		fail(err, errlen, "out of memory");
		return NULL;
	}
	if ((ks->cipher = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL)) == NULL) {
		fail_ossl(err, errlen, "AES-256-GCM unavailable");
		keystore_free(ks);
		return NULL;
	}
	if ((dfd = open(state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1) {
		fail(err, errlen, "state directory %s: %s", state_dir,
		    strerror(errno));
		keystore_free(ks);
		return NULL;
	}
	/* Twice at most: a creator racing us leaves a file to read. */
	for (int i = 0; i < 2 && rc == 1; i++)
		if ((rc = master_read(dfd, state_dir, ks, err, errlen)) == 1)
			rc = master_create(dfd, state_dir, ks, err, errlen);
	close(dfd);
	if (rc == 1)
		fail(err, errlen, "%s/%s: appears and disappears; refusing it",
		    state_dir, KEYSTORE_MASTER_FILE);
	if (rc != 0) {
		keystore_free(ks);
		return NULL;
	}
	return ks;
}

void
keystore_free(struct keystore *ks)
{
	if (ks == NULL)
		return;
	EVP_CIPHER_free(ks->cipher);
	OPENSSL_cleanse(ks, sizeof(*ks));
	free(ks);
}

/* --- sealing ------------------------------------------------------------- */

int
keystore_aad(char *buf, size_t buflen, const char *table, int64_t row_id,
    const char *column)
{
	int n;

	if (*table == '\0' || *column == '\0' || strchr(table, ':') != NULL ||
	    strchr(column, ':') != NULL)
		return -1;
	n = snprintf(buf, buflen, "%s:%" PRId64 ":%s", table, row_id, column);
	if (n < 0 || (size_t)n >= buflen)
		return -1;
	return n;
}

/*
 * A random 96-bit nonce per seal: with one master key, collisions stay
 * negligible far beyond the 2^32 seals NIST allows, and no counter has to
 * survive restarts.
 */
int
keystore_seal(const struct keystore *ks, const void *plain, size_t len,
    const void *aad, size_t aadlen, unsigned char **out, size_t *outlen,
    char *err, size_t errlen)
{
	EVP_CIPHER_CTX *ctx = NULL;
	unsigned char *blob, *nonce, *ct, *tag;
	int n, ok;

	*out = NULL;
	*outlen = 0;
	if (len > KEYSTORE_SEAL_MAX || aadlen > KEYSTORE_AAD_MAX)
		return fail(err, errlen, "value too large to seal");
	if ((blob = malloc(len + KEYSTORE_SEAL_OVERHEAD)) == NULL)
		return fail(err, errlen, "out of memory");
	blob[0] = KEYSTORE_SEAL_VERSION;
	nonce = blob + 1;
	ct = nonce + KEYSTORE_NONCE_LEN;
	tag = ct + len;
	ok = RAND_bytes(nonce, KEYSTORE_NONCE_LEN) == 1 &&
	    (ctx = EVP_CIPHER_CTX_new()) != NULL &&
	    EVP_EncryptInit_ex2(ctx, ks->cipher, ks->key, nonce, NULL) == 1 &&
	    EVP_EncryptUpdate(ctx, NULL, &n, blob, 1) == 1 &&
	    (aadlen == 0 ||
	    EVP_EncryptUpdate(ctx, NULL, &n, aad, (int)aadlen) == 1) &&
	    (len == 0 || EVP_EncryptUpdate(ctx, ct, &n, plain, (int)len) == 1) &&
	    EVP_EncryptFinal_ex(ctx, tag, &n) == 1 &&
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, KEYSTORE_TAG_LEN,
	    tag) == 1;
	EVP_CIPHER_CTX_free(ctx);
	if (!ok) {
		free(blob);
		return fail_ossl(err, errlen, "sealing failed");
	}
	*out = blob;
	*outlen = len + KEYSTORE_SEAL_OVERHEAD;
	return 0;
}

int
keystore_unseal(const struct keystore *ks, const void *blob, size_t bloblen,
    const void *aad, size_t aadlen, unsigned char **out, size_t *outlen,
    char *err, size_t errlen)
{
	const unsigned char *b = blob, *nonce, *ct, *tag;
	EVP_CIPHER_CTX *ctx = NULL;
	unsigned char *plain;
	size_t len;
	int n, ok;

	*out = NULL;
	*outlen = 0;
	if (bloblen < KEYSTORE_SEAL_OVERHEAD)
		return fail(err, errlen, "sealed value too short to be one");
	if (b[0] != KEYSTORE_SEAL_VERSION)
		return fail(err, errlen, "sealed value of an unknown format version");
	len = bloblen - KEYSTORE_SEAL_OVERHEAD;
	if (len > KEYSTORE_SEAL_MAX || aadlen > KEYSTORE_AAD_MAX)
		return fail(err, errlen, "sealed value too large");
	if ((plain = malloc(len + 1)) == NULL)
		return fail(err, errlen, "out of memory");
	nonce = b + 1;
	ct = nonce + KEYSTORE_NONCE_LEN;
	tag = ct + len;
	ok = (ctx = EVP_CIPHER_CTX_new()) != NULL &&
	    EVP_DecryptInit_ex2(ctx, ks->cipher, ks->key, nonce, NULL) == 1 &&
	    EVP_DecryptUpdate(ctx, NULL, &n, b, 1) == 1 &&
	    (aadlen == 0 ||
	    EVP_DecryptUpdate(ctx, NULL, &n, aad, (int)aadlen) == 1) &&
	    (len == 0 || EVP_DecryptUpdate(ctx, plain, &n, ct, (int)len) == 1) &&
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, KEYSTORE_TAG_LEN,
	    (void *)tag) == 1 &&
	    EVP_DecryptFinal_ex(ctx, plain + len, &n) == 1;
	EVP_CIPHER_CTX_free(ctx);
	if (!ok) {
		OPENSSL_cleanse(plain, len);
		free(plain);
		return fail(err, errlen, "sealed value did not authenticate (wrong "
		    "master key, moved from another row, or damaged)");
	}
	plain[len] = '\0';
	*out = plain;
	*outlen = len;
	return 0;
}

void
keystore_secret_free(void *p, size_t len)
{
	if (p == NULL)
		return;
	OPENSSL_cleanse(p, len);
	free(p);
}

/* --- key types and generation -------------------------------------------- */

struct key_kind {
	const char	*name;
	const char	*algorithm;	/* "EC" or "RSA" */
	const char	*curve;		/* EC only */
	int		 curve_nid;	/* EC only */
	int		 bits;		/* RSA modulus; EC field size */
};

static const struct key_kind key_kinds[] = {
	[KEY_EC256] = { "ec256", "EC", "P-256", NID_X9_62_prime256v1, 256 },
	[KEY_EC384] = { "ec384", "EC", "P-384", NID_secp384r1, 384 },
	[KEY_RSA2048] = { "rsa2048", "RSA", NULL, 0, 2048 },
	[KEY_RSA3072] = { "rsa3072", "RSA", NULL, 0, 3072 },
	[KEY_RSA4096] = { "rsa4096", "RSA", NULL, 0, 4096 },
};
#define NKINDS	(sizeof(key_kinds) / sizeof(key_kinds[0]))

static const struct key_kind *
key_kind(enum keystore_key_type type)
{
	return (unsigned)type < NKINDS ? &key_kinds[type] : NULL;
}

const char *
keystore_key_type_name(enum keystore_key_type type)
{
	const struct key_kind *k = key_kind(type);

	return k != NULL ? k->name : NULL;
}

int
keystore_key_type_parse(const char *name, enum keystore_key_type *type)
{
	for (size_t i = 0; i < NKINDS; i++)
		if (strcmp(name, key_kinds[i].name) == 0) {
			*type = (enum keystore_key_type)i;
			return 0;
		}
	return -1;
}

int
keystore_key_type_of(const EVP_PKEY *key)
{
	char group[64];
	int nid = NID_undef, bits = EVP_PKEY_get_bits(key);

	if (EVP_PKEY_is_a(key, "EC")) {
		if (EVP_PKEY_get_group_name(key, group, sizeof(group), NULL) != 1) {
			ERR_clear_error();
			return -1;
		}
		if ((nid = OBJ_sn2nid(group)) == NID_undef)
			nid = EC_curve_nist2nid(group);
	} else if (!EVP_PKEY_is_a(key, "RSA"))
		return -1;
	for (size_t i = 0; i < NKINDS; i++)
		if (EVP_PKEY_is_a(key, key_kinds[i].algorithm) &&
		    key_kinds[i].bits == bits && key_kinds[i].curve_nid == nid)
			return (int)i;
	return -1;
}

/* OpenSSL calls this between prime candidates; 0 aborts the generation. */
static int
keygen_progress_cb(EVP_PKEY_CTX *ctx)
{
	atomic_int *stop = EVP_PKEY_CTX_get_app_data(ctx);

	return !atomic_load(stop);
}

static EVP_PKEY *
generate(enum keystore_key_type type, atomic_int *stop, char *err,
    size_t errlen)
{
	const struct key_kind *k = key_kind(type);
	EVP_PKEY_CTX *ctx;
	EVP_PKEY *key = NULL;
	int ok;

	if (k == NULL) {
		fail(err, errlen, "unknown key type");
		return NULL;
	}
	if ((ctx = EVP_PKEY_CTX_new_from_name(NULL, k->algorithm, NULL)) == NULL) {
		fail_ossl(err, errlen, "key generation unavailable");
		return NULL;
	}
	ok = EVP_PKEY_keygen_init(ctx) == 1 && (k->curve != NULL ?
	    EVP_PKEY_CTX_set_group_name(ctx, k->curve) == 1 :
	    EVP_PKEY_CTX_set_rsa_keygen_bits(ctx, k->bits) == 1);
	if (ok && stop != NULL) {
		EVP_PKEY_CTX_set_app_data(ctx, stop);
		EVP_PKEY_CTX_set_cb(ctx, keygen_progress_cb);
	}
	ok = ok && EVP_PKEY_generate(ctx, &key) == 1;
	EVP_PKEY_CTX_free(ctx);
	if (ok)
		return key;
	EVP_PKEY_free(key);
	if (stop != NULL && atomic_load(stop))
		fail(err, errlen, "%s key generation cancelled", k->name);
	else {
		char what[64];

		snprintf(what, sizeof(what), "%s key generation failed", k->name);
		fail_ossl(err, errlen, what);
	}
	return NULL;
}

EVP_PKEY *
keystore_generate(enum keystore_key_type type, char *err, size_t errlen)
{
	return generate(type, NULL, err, errlen);
}

/* --- the worker pool ----------------------------------------------------- */

/*
 * Handing results back to the loop: the daemon's event_base is not set up
 * for threads (no evthread_use_pthreads()), so no libevent function may be
 * called from a worker, event_active included: it would race the loop on
 * the base's unlocked lists.  Instead a worker puts its finished job on the
 * done list under the pool's mutex and writes one byte to a non-blocking
 * pipe; an ordinary read event on the loop drains the pipe and delivers
 * every done job.  A full pipe (EAGAIN) already means a wakeup is pending.
 * The read event is added only while jobs are outstanding, so an idle pool
 * does not keep event_base_dispatch from returning.
 *
 * Every job is in exactly one place, told by its state and changed only
 * under pool->lock.
 */
enum job_state {
	JOB_QUEUED,	/* in pool->queue */
	JOB_RUNNING,	/* in pool->running, a worker generates its key */
	JOB_ABANDONED,	/* in pool->running, cancelled: the worker frees it */
	JOB_DONE,	/* in pool->done, for the loop to deliver */
	JOB_DELIVERING,	/* in no list: its callback runs on the loop */
};

struct keystore_job {
	struct keystore_pool		*pool;
	enum keystore_key_type		 type;
	enum job_state			 state;
	atomic_int			 stop;	/* read by keygen_progress_cb */
	keystore_key_cb			*cb;
	void				*arg;
	EVP_PKEY			*key;	/* the result, once DONE */
	char				 err[256];
	TAILQ_ENTRY(keystore_job)	 entry;
};

TAILQ_HEAD(job_list, keystore_job);

struct keystore_pool {
	struct event_base	*base;
	struct event		*wake;		/* the pipe's read end, on the loop */
	int			 pipe_rd;
	int			 pipe_wr;
	pthread_mutex_t		 lock;
	pthread_cond_t		 work;		/* queued a job, or stopping */
	pthread_cond_t		 idle;		/* a job left a worker */
	pthread_t		 threads[KEYSTORE_POOL_THREADS];
	size_t			 nthreads;
	size_t			 nwaiting;	/* threads waiting for work */
	size_t			 nqueued;
	size_t			 njobs;		/* queued, running or done */
	int			 stopping;
	int			 delivering;	/* inside pool_wake_cb */
	int			 free_pending;	/* freed from a callback */
	struct job_list		 queue;
	struct job_list		 running;
	struct job_list		 done;
};

/* Called with the lock held, from a worker. */
static void
pool_wake(struct keystore_pool *pool)
{
	if (write(pool->pipe_wr, "", 1) == -1) {
		/* EAGAIN: the pipe is full, the loop will wake anyway. */
	}
}

static void *
pool_worker(void *arg)
{
	struct keystore_pool *pool = arg;
	struct keystore_job *job;
	EVP_PKEY *key;

	pthread_mutex_lock(&pool->lock);
	for (;;) {
		while (!pool->stopping && TAILQ_EMPTY(&pool->queue)) {
			pool->nwaiting++;
			pthread_cond_wait(&pool->work, &pool->lock);
			pool->nwaiting--;
		}
		if (pool->stopping)
			break;
		job = TAILQ_FIRST(&pool->queue);
		TAILQ_REMOVE(&pool->queue, job, entry);
		pool->nqueued--;
		job->state = JOB_RUNNING;
		TAILQ_INSERT_TAIL(&pool->running, job, entry);
		pthread_mutex_unlock(&pool->lock);

		/* Only this thread touches job->err while RUNNING. */
		key = generate(job->type, &job->stop, job->err, sizeof(job->err));
		ERR_clear_error();

		pthread_mutex_lock(&pool->lock);
		TAILQ_REMOVE(&pool->running, job, entry);
		if (job->state == JOB_ABANDONED) {
			EVP_PKEY_free(key);
			free(job);
			pool->njobs--;
		} else {
			job->key = key;
			job->state = JOB_DONE;
			TAILQ_INSERT_TAIL(&pool->done, job, entry);
		}
		/* Also when abandoned: the loop may stop watching the pipe. */
		pool_wake(pool);
		pthread_cond_broadcast(&pool->idle);
	}
	pthread_mutex_unlock(&pool->lock);
	return NULL;
}

/* Called with the lock held.  Workers take no signals: the loop does. */
static int
pool_spawn(struct keystore_pool *pool)
{
	sigset_t all, old;
	int rc;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&pool->threads[pool->nthreads], NULL, pool_worker,
	    pool);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		errno = rc;
		return -1;
	}
	pool->nthreads++;
	return 0;
}

/* Loop thread: stops watching the pipe once nothing is outstanding. */
static void
pool_watch(struct keystore_pool *pool)
{
	size_t njobs;

	pthread_mutex_lock(&pool->lock);
	njobs = pool->njobs;
	pthread_mutex_unlock(&pool->lock);
	if (njobs == 0)
		event_del(pool->wake);
}

static void
pool_destroy(struct keystore_pool *pool)
{
	struct keystore_job *job;

	pthread_mutex_lock(&pool->lock);
	pool->stopping = 1;
	while ((job = TAILQ_FIRST(&pool->queue)) != NULL) {
		TAILQ_REMOVE(&pool->queue, job, entry);
		free(job);
	}
	TAILQ_FOREACH(job, &pool->running, entry) {
		job->state = JOB_ABANDONED;
		atomic_store(&job->stop, 1);
	}
	pthread_cond_broadcast(&pool->work);
	pthread_mutex_unlock(&pool->lock);
	/* Prompt: a running RSA generation stops at its next prime candidate. */
	for (size_t i = 0; i < pool->nthreads; i++)
		pthread_join(pool->threads[i], NULL);
	/* The workers are gone: what is left is the loop's alone. */
	while ((job = TAILQ_FIRST(&pool->done)) != NULL) {
		TAILQ_REMOVE(&pool->done, job, entry);
		EVP_PKEY_free(job->key);
		free(job);
	}
	if (pool->wake != NULL)
		event_free(pool->wake);
	if (pool->pipe_rd != -1)
		close(pool->pipe_rd);
	if (pool->pipe_wr != -1)
		close(pool->pipe_wr);
	pthread_cond_destroy(&pool->idle);
	pthread_cond_destroy(&pool->work);
	pthread_mutex_destroy(&pool->lock);
	free(pool);
}

static void
pool_wake_cb(evutil_socket_t fd, short what, void *arg)
{
	struct keystore_pool *pool = arg;
	struct keystore_job *job;
	char buf[64];

	/* Drain first: a job done after this read writes a new byte. */
	while (read(pool->pipe_rd, buf, sizeof(buf)) > 0)
		;
	pool->delivering = 1;
	while (!pool->free_pending) {
		pthread_mutex_lock(&pool->lock);
		if ((job = TAILQ_FIRST(&pool->done)) != NULL) {
			TAILQ_REMOVE(&pool->done, job, entry);
			job->state = JOB_DELIVERING;
			pool->njobs--;	/* the callback may queue another */
		}
		pthread_mutex_unlock(&pool->lock);
		if (job == NULL)
			break;
		job->cb(job->key, job->key != NULL ? NULL : job->err, job->arg);
		free(job);
	}
	pool->delivering = 0;
	if (pool->free_pending)
		pool_destroy(pool);
	else
		pool_watch(pool);
}

struct keystore_pool *
keystore_pool_new(struct event_base *base, char *err, size_t errlen)
{
	struct keystore_pool *pool;
	int fds[2];

	if ((pool = calloc(1, sizeof(*pool))) == NULL) {
		fail(err, errlen, "out of memory");
		return NULL;
	}
	pool->base = base;
	pool->pipe_rd = pool->pipe_wr = -1;
	TAILQ_INIT(&pool->queue);
	TAILQ_INIT(&pool->running);
	TAILQ_INIT(&pool->done);
	if (pthread_mutex_init(&pool->lock, NULL) != 0 ||
	    pthread_cond_init(&pool->work, NULL) != 0 ||
	    pthread_cond_init(&pool->idle, NULL) != 0) {
		fail(err, errlen, "cannot set up key generation threads");
		free(pool);
		return NULL;
	}
	if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) == -1) {
		fail(err, errlen, "key generation pipe: %s", strerror(errno));
		pool_destroy(pool);
		return NULL;
	}
	pool->pipe_rd = fds[0];
	pool->pipe_wr = fds[1];
	pool->wake = event_new(base, pool->pipe_rd, EV_READ | EV_PERSIST,
	    pool_wake_cb, pool);
	if (pool->wake == NULL) {
		fail(err, errlen, "out of memory");
		pool_destroy(pool);
		return NULL;
	}
	if (event_base_get_npriorities(base) > PRIO_DEFAULT)
		event_priority_set(pool->wake, PRIO_DEFAULT);
	return pool;
}

void
keystore_pool_free(struct keystore_pool *pool)
{
	if (pool == NULL)
		return;
	if (pool->delivering) {
		pool->free_pending = 1;	/* pool_wake_cb finishes the job */
		return;
	}
	pool_destroy(pool);
}

struct keystore_job *
keystore_generate_async(struct keystore_pool *pool,
    enum keystore_key_type type, keystore_key_cb *cb, void *arg, char *err,
    size_t errlen)
{
	struct keystore_job *job;
	const char *why = NULL;

	if (key_kind(type) == NULL) {
		fail(err, errlen, "unknown key type");
		return NULL;
	}
	if ((job = calloc(1, sizeof(*job))) == NULL) {
		fail(err, errlen, "out of memory");
		return NULL;
	}
	job->pool = pool;
	job->type = type;
	job->state = JOB_QUEUED;
	atomic_init(&job->stop, 0);
	job->cb = cb;
	job->arg = arg;
	if (event_add(pool->wake, NULL) == -1) {
		free(job);
		fail(err, errlen, "cannot watch key generation results");
		return NULL;
	}
	pthread_mutex_lock(&pool->lock);
	if (pool->njobs >= KEYSTORE_POOL_JOBS)
		why = "too many key generations under way";
	else if (pool->nqueued >= pool->nwaiting &&
	    pool->nthreads < KEYSTORE_POOL_THREADS && pool_spawn(pool) == -1 &&
	    pool->nthreads == 0)
		why = strerror(errno);
	if (why == NULL) {
		TAILQ_INSERT_TAIL(&pool->queue, job, entry);
		pool->nqueued++;
		pool->njobs++;
		pthread_cond_signal(&pool->work);
	}
	pthread_mutex_unlock(&pool->lock);
	if (why == NULL)
		return job;
	free(job);
	pool_watch(pool);
	fail(err, errlen, "cannot start a key generation: %s", why);
	return NULL;
}

void
keystore_job_cancel(struct keystore_job *job)
{
	struct keystore_pool *pool = job->pool;

	pthread_mutex_lock(&pool->lock);
	switch (job->state) {
	case JOB_QUEUED:
		TAILQ_REMOVE(&pool->queue, job, entry);
		pool->nqueued--;
		pool->njobs--;
		free(job);
		break;
	case JOB_RUNNING:
		job->state = JOB_ABANDONED;
		atomic_store(&job->stop, 1);
		break;
	case JOB_DONE:
		TAILQ_REMOVE(&pool->done, job, entry);
		pool->njobs--;
		EVP_PKEY_free(job->key);
		free(job);
		break;
	case JOB_ABANDONED:
	case JOB_DELIVERING:
		break;
	}
	pthread_mutex_unlock(&pool->lock);
	if (!pool->delivering)
		pool_watch(pool);
}

void
keystore_pool_wait_idle(struct keystore_pool *pool)
{
	pthread_mutex_lock(&pool->lock);
	while (!TAILQ_EMPTY(&pool->queue) || !TAILQ_EMPTY(&pool->running))
		pthread_cond_wait(&pool->idle, &pool->lock);
	pthread_mutex_unlock(&pool->lock);
}

/* --- PEM ------------------------------------------------------------------ */

/* Copies a memory BIO's contents out, NUL-terminated. */
static int
bio_take(BIO *bio, char **out, size_t *outlen)
{
	char *data, *s;
	long n = BIO_get_mem_data(bio, &data);

	if (n <= 0 || (s = malloc((size_t)n + 1)) == NULL)
		return -1;
	memcpy(s, data, (size_t)n);
	s[n] = '\0';
	*out = s;
	*outlen = (size_t)n;
	return 0;
}

int
keystore_key_to_pem(EVP_PKEY *key, char **pem, size_t *len, char *err,
    size_t errlen)
{
	BIO *bio;
	int rc = 0;

	*pem = NULL;
	*len = 0;
	if ((bio = BIO_new(BIO_s_mem())) == NULL)
		return fail(err, errlen, "out of memory");
	/* OpenSSL 3 writes PKCS#8 here; BIO_free wipes the mem buffer. */
	if (PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL) != 1)
		rc = fail_ossl(err, errlen, "cannot encode the private key");
	else if (bio_take(bio, pem, len) == -1)
		rc = fail(err, errlen, "out of memory");
	BIO_free(bio);
	return rc;
}

#define PEM_LABEL_MAX	64

static const char pem_begin[] = "-----BEGIN ";
static const char pem_dashes[] = "-----";

struct pem_block {
	const char	*start;		/* "-----BEGIN" */
	size_t		 len;		/* through the END line's dashes */
	char		 label[PEM_LABEL_MAX + 1];
};

/*
 * The next "-----BEGIN X-----" at the start of a line at or after *pos, up
 * to its "-----END X-----".  1 found, 0 none left, -1 malformed.
 */
static int
pem_next_block(const char *text, size_t len, size_t *pos, struct pem_block *b)
{
	const char *p = text + *pos, *end = text + len, *q, *lab, *e;
	char endline[PEM_LABEL_MAX + 20];
	size_t lablen, endlen;

	for (;;) {
		q = memmem(p, (size_t)(end - p), pem_begin, sizeof(pem_begin) - 1);
		if (q == NULL)
			return 0;
		if (q == text || q[-1] == '\n' || q[-1] == '\r')
			break;
		p = q + 1;
	}
	lab = q + sizeof(pem_begin) - 1;
	e = memmem(lab, (size_t)(end - lab), pem_dashes, sizeof(pem_dashes) - 1);
	if (e == NULL || e - lab > PEM_LABEL_MAX ||
	    memchr(lab, '\n', (size_t)(e - lab)) != NULL)
		return -1;
	lablen = (size_t)(e - lab);
	memcpy(b->label, lab, lablen);
	b->label[lablen] = '\0';
	endlen = (size_t)snprintf(endline, sizeof(endline), "-----END %s-----",
	    b->label);
	p = e + sizeof(pem_dashes) - 1;
	if ((e = memmem(p, (size_t)(end - p), endline, endlen)) == NULL)
		return -1;
	b->start = q;
	b->len = (size_t)(e + endlen - q);
	*pos = (size_t)(e + endlen - text);
	return 1;
}

static int
label_is_private_key(const char *label)
{
	static const char suffix[] = "PRIVATE KEY";
	size_t n = strlen(label);

	return n >= sizeof(suffix) - 1 &&
	    strcmp(label + n - (sizeof(suffix) - 1), suffix) == 0;
}

/* A daemon must never stop to ask a terminal for a passphrase. */
static int
no_passphrase_cb(char *buf, int size, int rwflag, void *u)
{
	return -1;
}

EVP_PKEY *
keystore_key_from_pem(const char *pem, size_t len, char *err, size_t errlen)
{
	struct pem_block b, key_block;
	size_t pos = 0, nkeys = 0;
	EVP_PKEY *key;
	BIO *bio;
	int rc;

	if (len > KEYSTORE_PEM_MAX) {
		fail(err, errlen, "private key text larger than %u bytes",
		    KEYSTORE_PEM_MAX);
		return NULL;
	}
	if (memchr(pem, '\0', len) != NULL) {
		fail(err, errlen, "private key text holds binary data");
		return NULL;
	}
	while ((rc = pem_next_block(pem, len, &pos, &b)) == 1)
		if (label_is_private_key(b.label) && nkeys++ == 0)
			key_block = b;
	if (rc == -1) {
		fail(err, errlen, "a PEM block is malformed or has no END line");
		return NULL;
	}
	if (nkeys != 1) {
		if (nkeys == 0)
			fail(err, errlen, "no private key found");
		else
			fail(err, errlen, "found %zu private keys where one is "
			    "expected", nkeys);
		return NULL;
	}
	if (strcmp(key_block.label, "ENCRYPTED PRIVATE KEY") == 0 ||
	    memmem(key_block.start, key_block.len, "Proc-Type: 4,ENCRYPTED",
	    22) != NULL) {
		fail(err, errlen, "the private key is encrypted; give it "
		    "unencrypted");
		return NULL;
	}
	if ((bio = BIO_new_mem_buf(key_block.start, (int)key_block.len)) == NULL) {
		fail(err, errlen, "out of memory");
		return NULL;
	}
	key = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase_cb, NULL);
	BIO_free(bio);
	/* Decoders leave tried-and-failed entries even on success. */
	ERR_clear_error();
	if (key == NULL)
		fail(err, errlen, "the private key could not be decoded (PKCS#8, "
		    "RSA or EC PEM expected)");
	return key;
}

/* --- CSR and certificate match ------------------------------------------- */

/* Printable ASCII without spaces, 1 to KEYSTORE_NAME_MAX bytes. */
static int
csr_name_ok(const char *name)
{
	size_t n = strnlen(name, KEYSTORE_NAME_MAX + 1);

	if (n == 0 || n > KEYSTORE_NAME_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)name[i] <= 0x20 || (unsigned char)name[i] >= 0x7f)
			return 0;
	return 1;
}

static int
csr_add_names(X509_REQ *req, const char *const *names, size_t n)
{
	STACK_OF(X509_EXTENSION) *exts = NULL;
	X509_EXTENSION *ext = NULL;
	GENERAL_NAMES *gens;
	GENERAL_NAME *gen;
	ASN1_IA5STRING *s;
	int ok = 1;

	if ((gens = sk_GENERAL_NAME_new_null()) == NULL)
		return -1;
	for (size_t i = 0; i < n && ok; i++) {
		gen = GENERAL_NAME_new();
		s = ASN1_IA5STRING_new();
		ok = gen != NULL && s != NULL &&
		    ASN1_STRING_set(s, names[i], -1) == 1;
		if (ok) {
			GENERAL_NAME_set0_value(gen, GEN_DNS, s);
			s = NULL;
			ok = sk_GENERAL_NAME_push(gens, gen) > 0;
		}
		if (!ok) {
			ASN1_IA5STRING_free(s);
			GENERAL_NAME_free(gen);
		}
	}
	ok = ok && (ext = X509V3_EXT_i2d(NID_subject_alt_name, 0, gens)) != NULL &&
	    (exts = sk_X509_EXTENSION_new_null()) != NULL &&
	    sk_X509_EXTENSION_push(exts, ext) > 0;
	if (ok)
		ext = NULL;	/* exts owns it */
	ok = ok && X509_REQ_add_extensions(req, exts) == 1;
	X509_EXTENSION_free(ext);
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	GENERAL_NAMES_free(gens);
	return ok ? 0 : -1;
}

X509_REQ *
keystore_make_csr(EVP_PKEY *key, const char *const *names, size_t n,
    char *err, size_t errlen)
{
	X509_REQ *req;
	int type = keystore_key_type_of(key);
	const EVP_MD *md = type == KEY_EC384 ? EVP_sha384() : EVP_sha256();
	int ok;

	if (n == 0 || n > KEYSTORE_CSR_NAMES_MAX) {
		fail(err, errlen, "a CSR takes 1 to %d names, not %zu",
		    KEYSTORE_CSR_NAMES_MAX, n);
		return NULL;
	}
	for (size_t i = 0; i < n; i++)
		if (names[i] == NULL || !csr_name_ok(names[i])) {
			fail(err, errlen, "name %zu is not a DNS name (1 to %d "
			    "printable ASCII characters, no spaces)", i + 1,
			    KEYSTORE_NAME_MAX);
			return NULL;
		}
	if (type < 0) {
		fail(err, errlen, "a CSR needs an ec256, ec384, rsa2048, rsa3072 "
		    "or rsa4096 key");
		return NULL;
	}
	if ((req = X509_REQ_new()) == NULL) {
		fail(err, errlen, "out of memory");
		return NULL;
	}
	ok = X509_REQ_set_version(req, X509_REQ_VERSION_1) == 1 &&
	    (strlen(names[0]) > KEYSTORE_CN_MAX ||
	    X509_NAME_add_entry_by_NID(X509_REQ_get_subject_name(req),
	    NID_commonName, MBSTRING_ASC, (const unsigned char *)names[0], -1, -1,
	    0) == 1) &&
	    X509_REQ_set_pubkey(req, key) == 1 &&
	    csr_add_names(req, names, n) == 0 &&
	    X509_REQ_sign(req, key, md) > 0;
	if (!ok) {
		fail_ossl(err, errlen, "cannot build the CSR");
		X509_REQ_free(req);
		return NULL;
	}
	return req;
}

int
keystore_csr_to_pem(X509_REQ *req, char **pem, size_t *len, char *err,
    size_t errlen)
{
	BIO *bio;
	int rc = 0;

	*pem = NULL;
	*len = 0;
	if ((bio = BIO_new(BIO_s_mem())) == NULL)
		return fail(err, errlen, "out of memory");
	if (PEM_write_bio_X509_REQ(bio, req) != 1)
		rc = fail_ossl(err, errlen, "cannot encode the CSR");
	else if (bio_take(bio, pem, len) == -1)
		rc = fail(err, errlen, "out of memory");
	BIO_free(bio);
	return rc;
}

int
keystore_csr_to_der(X509_REQ *req, unsigned char **der, size_t *len,
    char *err, size_t errlen)
{
	unsigned char *buf, *p;
	int n;

	*der = NULL;
	*len = 0;
	if ((n = i2d_X509_REQ(req, NULL)) <= 0)
		return fail_ossl(err, errlen, "cannot encode the CSR");
	if ((buf = malloc((size_t)n)) == NULL)
		return fail(err, errlen, "out of memory");
	p = buf;
	if (i2d_X509_REQ(req, &p) != n) {
		free(buf);
		return fail_ossl(err, errlen, "cannot encode the CSR");
	}
	*der = buf;
	*len = (size_t)n;
	return 0;
}

int
keystore_key_matches_cert(EVP_PKEY *key, X509 *cert)
{
	EVP_PKEY *pub;
	int eq;

	if (key == NULL || cert == NULL || (pub = X509_get0_pubkey(cert)) == NULL) {
		ERR_clear_error();
		return 0;
	}
	/* Compares public parts and parameters; -1/-2 for unlike types. */
	eq = EVP_PKEY_eq(key, pub);
	ERR_clear_error();
	return eq == 1;
}
