/* SPDX-License-Identifier: ISC */
/* Spool files written by a background thread, optionally with O_DIRECT (repo/spool.h). */
#include "repo/spool.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/hash.h"
#include "util/log.h"

#define NBUF 3

struct cf_spool {
	int fd;
	int direct;        /* fd has O_DIRECT; cleared by whoever writes, when refused */
	int padded;        /* a direct write went past the end: finish truncates */
	int wrote_direct;  /* some bytes went out with O_DIRECT */
	char *dir;
	uint64_t len;      /* bytes appended */
	struct cf_hash *h; /* the caller's, absorbed by the writer */
	pthread_mutex_t mu;
	pthread_cond_t cv; /* a buffer was queued or freed, the end came, or an error */
	pthread_t tid;
	int started;
	uint8_t *buf[NBUF];
	size_t fill[NBUF]; /* bytes of each buffer that belong to the file */
	int queued[NBUF];  /* handed to the writer (under mu) */
	unsigned cur;      /* the buffer being filled */
	unsigned next_w;   /* the next buffer the writer takes: buffers go out in order */
	uint64_t woff;     /* file offset of that buffer */
	int closing;
	_Atomic int err;   /* the first write error */
};

/* An anonymous file in @dir: O_TMPFILE where the filesystem has it, else mkstemp+unlink. */
static int anon_file(const char *dir, int *direct)
{
	char *path = NULL;
	int fd = -1;

	if (*direct) {
		fd = open(dir, O_RDWR | O_TMPFILE | O_CLOEXEC | O_DIRECT, 0600);
		if (fd >= 0)
			return fd;
		*direct = 0; /* no O_DIRECT (or no O_TMPFILE) here: try the ordinary ways */
	}
	fd = open(dir, O_RDWR | O_TMPFILE | O_CLOEXEC, 0600);
	if (fd >= 0 || (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL))
		return fd >= 0 ? fd : -errno;
	if (asprintf(&path, "%s/.cfspool-XXXXXX", dir) < 0)
		return -ENOMEM;
	fd = mkostemp(path, O_CLOEXEC);
	if (fd >= 0)
		unlink(path);
	free(path);
	return fd >= 0 ? fd : -errno;
}

static int pwrite_all(int fd, const uint8_t *p, size_t len, uint64_t off)
{
	while (len) {
		ssize_t w = pwrite(fd, p, len, (off_t)off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return w < 0 ? -errno : -EIO;
		p += w;
		len -= (size_t)w;
		off += (uint64_t)w;
	}
	return 0;
}

/*
 * Write @n bytes of buffer @b at @off (hashing them first). A direct write must cover
 * whole CF_SPOOL_ALIGN blocks: the last buffer is zero-filled up to one and the file
 * truncated at the end. Where O_DIRECT is refused (EINVAL), the spool turns ordinary.
 */
static int write_buf(struct cf_spool *s, uint8_t *b, size_t n, uint64_t off)
{
	size_t w = n;
	int r;

	if (s->h)
		cf_hash_update(s->h, b, n);
	if (s->direct && n % CF_SPOOL_ALIGN) {
		w = (n + CF_SPOOL_ALIGN - 1) / CF_SPOOL_ALIGN * CF_SPOOL_ALIGN;
		memset(b + n, 0, w - n);
	}
	r = pwrite_all(s->fd, b, w, off);
	if (r == -EINVAL && s->direct) {
		int fl = fcntl(s->fd, F_GETFL);

		if (fl >= 0 && fcntl(s->fd, F_SETFL, fl & ~O_DIRECT) == 0) {
			s->direct = 0;
			w = n;
			r = pwrite_all(s->fd, b, n, off);
		}
	}
	if (!r && w != n)
		s->padded = 1;
	if (!r && s->direct)
		s->wrote_direct = 1;
	if (r)
		cf_log_err("writing a spool file in %s: %s", s->dir, strerror(-r));
	return r;
}

static void *writer(void *arg)
{
	struct cf_spool *s = arg;

	pthread_mutex_lock(&s->mu);
	for (;;) {
		unsigned i = s->next_w;
		uint64_t off = s->woff;
		size_t n;
		int r;

		while (!s->queued[i] && !s->closing && !atomic_load(&s->err))
			pthread_cond_wait(&s->cv, &s->mu);
		if (atomic_load(&s->err) || !s->queued[i])
			break; /* an error, or the end with nothing left */
		n = s->fill[i];
		pthread_mutex_unlock(&s->mu);
		r = write_buf(s, s->buf[i], n, off);
		pthread_mutex_lock(&s->mu);
		if (r && !atomic_load(&s->err))
			atomic_store(&s->err, r);
		s->queued[i] = 0;
		s->fill[i] = 0;
		s->woff += n;
		s->next_w = (i + 1) % NBUF;
		pthread_cond_broadcast(&s->cv);
	}
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

/*
 * Buffers come from a small process-wide pool: malloc'ed 1 MiB blocks freed by other
 * threads' arenas stay mapped (peak RSS grew by ~20 MB without it), and pages used
 * before are cheaper than fresh ones.
 */
#define POOL_MAX 4
static pthread_mutex_t pool_mu = PTHREAD_MUTEX_INITIALIZER;
static uint8_t *pool[POOL_MAX];
static int pool_n;

static uint8_t *buf_new(void)
{
	void *b = NULL;

	pthread_mutex_lock(&pool_mu);
	if (pool_n)
		b = pool[--pool_n];
	pthread_mutex_unlock(&pool_mu);
	if (b)
		return b;
	return posix_memalign(&b, CF_SPOOL_ALIGN, CF_SPOOL_BUF_BYTES) == 0 ? b : NULL;
}

static void buf_put(uint8_t *b)
{
	if (!b)
		return;
	pthread_mutex_lock(&pool_mu);
	if (pool_n < POOL_MAX) {
		pool[pool_n++] = b;
		b = NULL;
	}
	pthread_mutex_unlock(&pool_mu);
	free(b);
}

int cf_spool_new(struct cf_spool **out, const char *dir, int direct)
{
	struct cf_spool *s = calloc(1, sizeof(*s));
	int fd;

	if (!s || !(s->dir = strdup(dir)) || !(s->buf[0] = buf_new())) {
		if (s)
			free(s->dir);
		free(s);
		return -ENOMEM;
	}
	s->direct = direct;
	fd = anon_file(dir, &s->direct);
	if (fd < 0) {
		cf_log_err("cannot create a spool file in %s: %s", dir, strerror(-fd));
		buf_put(s->buf[0]);
		free(s->dir);
		free(s);
		return fd;
	}
	s->fd = fd;
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cv, NULL);
	*out = s;
	return 0;
}

void cf_spool_hash(struct cf_spool *s, struct cf_hash *h)
{
	s->h = h;
}

uint64_t cf_spool_len(const struct cf_spool *s)
{
	return s->len;
}

int cf_spool_direct(const struct cf_spool *s)
{
	return s->wrote_direct;
}

/* Hand the full current buffer to the writer (started on first use) and take the next. */
static int queue_cur(struct cf_spool *s)
{
	unsigned nxt = (s->cur + 1) % NBUF;
	int r;

	if (!s->started && pthread_create(&s->tid, NULL, writer, s) == 0)
		s->started = 1;
	if (!s->started) { /* no thread: write it here */
		r = write_buf(s, s->buf[s->cur], s->fill[s->cur], s->woff);
		s->woff += s->fill[s->cur];
		s->fill[s->cur] = 0;
		if (r)
			atomic_store(&s->err, r);
		return r;
	}
	if (!s->buf[nxt] && !(s->buf[nxt] = buf_new())) {
		atomic_store(&s->err, -ENOMEM); /* the full buffer cannot go anywhere: spent */
		return -ENOMEM;
	}
	pthread_mutex_lock(&s->mu);
	s->queued[s->cur] = 1;
	pthread_cond_broadcast(&s->cv);
	while (s->queued[nxt] && !atomic_load(&s->err))
		pthread_cond_wait(&s->cv, &s->mu);
	s->cur = nxt;
	r = atomic_load(&s->err);
	pthread_mutex_unlock(&s->mu);
	return r;
}

int cf_spool_append(struct cf_spool *s, const void *b, size_t len)
{
	const uint8_t *p = b;
	int r = atomic_load(&s->err);

	while (len && !r) {
		size_t room = CF_SPOOL_BUF_BYTES - s->fill[s->cur];
		size_t c = len < room ? len : room;

		memcpy(s->buf[s->cur] + s->fill[s->cur], p, c);
		s->fill[s->cur] += c;
		s->len += c;
		p += c;
		len -= c;
		if (s->fill[s->cur] == CF_SPOOL_BUF_BYTES)
			r = queue_cur(s);
	}
	return r;
}

/* Stop the writer after what is queued (or at once after an error) and join it. */
static void stop_writer(struct cf_spool *s)
{
	if (!s->started)
		return;
	pthread_mutex_lock(&s->mu);
	s->closing = 1;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
	pthread_join(s->tid, NULL);
	s->started = 0;
}

int cf_spool_finish(struct cf_spool *s, int *fd)
{
	int r = atomic_load(&s->err), fl;

	if (!r && s->fill[s->cur]) {
		if (s->started) {
			pthread_mutex_lock(&s->mu);
			s->queued[s->cur] = 1;
			pthread_mutex_unlock(&s->mu);
		} else {
			r = write_buf(s, s->buf[s->cur], s->fill[s->cur], s->woff);
			s->woff += s->fill[s->cur];
			s->fill[s->cur] = 0;
		}
	}
	stop_writer(s);
	for (int i = 0; i < NBUF; i++) { /* the caller may keep the file a while: not these */
		buf_put(s->buf[i]);
		s->buf[i] = NULL;
	}
	if (!r)
		r = atomic_load(&s->err);
	if (r) /* logged where it happened */
		return r;
	if (s->padded && ftruncate(s->fd, (off_t)s->len) < 0)
		r = -errno;
	if (!r && s->direct) { /* the next reader (a copy to storage) reads unaligned */
		fl = fcntl(s->fd, F_GETFL);
		if (fl < 0 || fcntl(s->fd, F_SETFL, fl & ~O_DIRECT) < 0)
			r = -errno;
		else
			s->direct = 0;
	}
	if (r) {
		cf_log_err("finishing a spool file in %s: %s", s->dir, strerror(-r));
		atomic_store(&s->err, r);
		return r;
	}
	*fd = s->fd;
	s->fd = -1;
	atomic_store(&s->err, -EALREADY); /* spent: no more appends */
	return 0;
}

void cf_spool_free(struct cf_spool *s)
{
	if (!s)
		return;
	if (s->started) {
		pthread_mutex_lock(&s->mu);
		if (!atomic_load(&s->err))
			atomic_store(&s->err, -ECANCELED); /* nobody wants the rest */
		pthread_mutex_unlock(&s->mu);
		stop_writer(s);
	}
	if (s->fd >= 0)
		close(s->fd);
	for (int i = 0; i < NBUF; i++)
		buf_put(s->buf[i]);
	pthread_mutex_destroy(&s->mu);
	pthread_cond_destroy(&s->cv);
	free(s->dir);
	free(s);
}
