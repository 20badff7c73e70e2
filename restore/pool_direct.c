/* SPDX-License-Identifier: ISC */
/*
 * How the restore's workers write (restore/pool.h; docs/restore.md, "Direct writes"):
 * buffered through a file's ordinary descriptor, or its whole pages with O_DIRECT from
 * the pool's aligned slots, which POOL_WRITERS writer threads write while the workers
 * go on decrypting.
 */
#include "restore/pool-internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "repo/archive.h"
#include "util/log.h"

#define WRITE_MAX (128u << 10) /* bytes per buffered pwrite: the copy stays in the CPU cache */

int cf_pool_direct_env_off(void)
{
	const char *env = getenv("COFFER_RESTORE_DIRECT");

	return env && !strcmp(env, "0");
}

void cf_pool_set_direct(struct cf_pool *p, enum cf_pool_direct mode)
{
	/* direct by default: docs/restore.md, "Direct writes"; COFFER_RESTORE_DIRECT=0 off */
	if (mode == CF_POOL_DIRECT_AUTO)
		mode = cf_pool_direct_env_off() ? CF_POOL_DIRECT_OFF : CF_POOL_DIRECT_ON;
	p->direct = mode;
}

void cf_pool_stats(struct cf_pool *p, struct cf_pool_stats *out)
{
	out->direct_bytes = atomic_load(&p->dbytes);
	out->buffered_bytes = atomic_load(&p->bbytes);
	out->direct_files = atomic_load(&p->dfiles);
	out->fallbacks = atomic_load(&p->fallbacks);
}

/* The errors with which a filesystem refuses O_DIRECT or a direct write's alignment. */
static int refused(int e)
{
	return e == EINVAL || e == EOPNOTSUPP;
}

/* @f is written buffered from now on, and so is every file opened after it. */
static void fall_back(struct cf_pool *p, struct cf_pool_file *f)
{
	char shown[256];

	if (!atomic_exchange(&p->nodirect, 1))
		cf_log_debug("a direct write to \"%s\" was refused: writing buffered",
		             cf_archive_printable(f->path, shown, sizeof(shown)));
	if (!atomic_exchange(&f->buffered, 1))
		atomic_fetch_add(&p->fallbacks, 1);
}

/* The unit of a file's direct writes: a page, or the filesystem's block when larger;
 * 0 (buffered writes) for a block a slot cannot hold whole. */
static uint32_t direct_unit(const struct stat *st)
{
	if (st->st_blksize <= (blksize_t)POOL_PAGE)
		return POOL_PAGE;
	if (st->st_blksize > (blksize_t)POOL_SLOT_BYTES || st->st_blksize % POOL_PAGE)
		return 0;
	return (uint32_t)st->st_blksize;
}

void cf_pool_file_direct(struct cf_pool *p, struct cf_pool_file *f, int dirfd, uint64_t size)
{
	char shown[256];
	struct stat a, b;
	uint32_t unit;
	int dfd;

	if (p->direct == CF_POOL_DIRECT_OFF || atomic_load(&p->nodirect) || f->dfd >= 0)
		return;
	if (size < CF_POOL_DIRECT_MIN || fstat(f->fd, &a) != 0 || !S_ISREG(a.st_mode) ||
	    !(unit = direct_unit(&a)))
		return;
	if (p->direct == CF_POOL_DIRECT_TEST_OPEN_EINVAL) {
		dfd = -1;
		errno = EINVAL;
	} else {
		dfd = openat(dirfd, f->path, O_WRONLY | O_DIRECT | O_NOFOLLOW | O_CLOEXEC);
	}
	if (dfd < 0) {
		if (refused(errno)) {
			atomic_fetch_add(&p->fallbacks, 1);
			if (!atomic_exchange(&p->nodirect, 1))
				cf_log_debug("O_DIRECT refused (%s): writing buffered", strerror(errno));
		} else {
			cf_log_debug("cannot open \"%s\" again with O_DIRECT: %s; writing it buffered",
			             cf_archive_printable(f->path, shown, sizeof(shown)), strerror(errno));
		}
		return;
	}
	if (fstat(dfd, &b) != 0 || b.st_dev != a.st_dev || b.st_ino != a.st_ino) {
		cf_log_debug("\"%s\" opened again is another file: writing it buffered",
		             cf_archive_printable(f->path, shown, sizeof(shown)));
		close(dfd);
		return;
	}
	/* blocks allocated now (unwritten): the direct writes are overwrites, which the
	 * filesystem lets run side by side; a failure only loses that */
	(void)fallocate(f->fd, 0, 0, (off_t)size);
	f->size = size;
	f->align = unit;
	f->dfd = dfd;
	atomic_fetch_add(&p->dfiles, 1);
}

static int write_buffered(struct cf_pool *p, struct cf_pool_file *f, const uint8_t *buf,
                          size_t len, uint64_t off)
{
	size_t left = len;

	while (left > 0) {
		ssize_t n = pwrite(f->fd, buf, left > WRITE_MAX ? WRITE_MAX : left, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		buf += n;
		left -= (size_t)n;
		off += (uint64_t)n;
	}
	atomic_fetch_add(&p->bbytes, len);
	return 0;
}

/*
 * Write the slot's @len bytes (page-aligned memory) at @off of @f (both multiples of
 * @f's unit) with O_DIRECT. *@done: the bytes written. Returns 0, 1 when the filesystem
 * refused (the rest is to be written buffered), or -errno.
 */
static int write_direct(struct cf_pool *p, struct cf_pool_file *f, const uint8_t *buf,
                        size_t len, uint64_t off, size_t *done)
{
	*done = 0;
	while (*done < len) {
		ssize_t k;

		if (p->direct == CF_POOL_DIRECT_TEST_WRITE_EINVAL &&
		    atomic_fetch_add(&p->test_writes, 1) > 0) {
			k = -1;
			errno = EINVAL;
		} else {
			k = pwrite(f->dfd, buf + *done, len - *done, (off_t)(off + *done));
		}
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return refused(errno) ? 1 : -errno;
		/* a short write: the part of a unit it wrote is written again, whole */
		k -= k % (ssize_t)f->align;
		if (k == 0)
			return -EIO;
		*done += (size_t)k;
		atomic_fetch_add(&p->dbytes, (uint64_t)k);
	}
	return 0;
}

/* Write the queued slot @s (a writer's, or a worker's when no writer runs). */
static void slot_write(struct cf_pool *p, struct cf_pool_slot *s)
{
	char shown[256];
	size_t done = 0;
	int rc;

	if (cf_pool_failed(p))
		return;
	rc = write_buffered(p, s->f, s->data - s->head, s->head, s->off - s->head);
	if (!rc)
		rc = atomic_load(&s->f->buffered) ? 1
						  : write_direct(p, s->f, s->data, s->len, s->off, &done);
	if (rc == 1) {
		fall_back(p, s->f);
		rc = write_buffered(p, s->f, s->data + done, s->len - done, s->off + done);
	}
	if (!rc)
		rc = write_buffered(p, s->f, s->data + s->len, s->tail, s->off + s->len);
	if (rc) {
		cf_log_err("cannot write \"%s\": %s",
		           cf_archive_printable(s->f->path, shown, sizeof(shown)), strerror(-rc));
		cf_pool_fail(p, rc);
	}
}

/* Put @s back on the free list. Under p->mu. */
static void slot_free_locked(struct cf_pool *p, struct cf_pool_slot *s)
{
	s->f = NULL;
	s->next = p->free_slots;
	p->free_slots = s;
	pthread_cond_signal(&p->slot_back);
}

void cf_pool_direct_give(struct cf_pool *p, struct cf_pool_slot *s)
{
	pthread_mutex_lock(&p->mu);
	slot_free_locked(p, s);
	pthread_mutex_unlock(&p->mu);
}

/*
 * The first queued slot a writer may take (under p->mu), unlinked; NULL if none. An
 * ordered slot waits while another writer writes a slot of its file: a file's pieces
 * are then written front to back, so ext4 converts its preallocated (unwritten) blocks
 * in order. Written side by side, their completions in any order split the file's
 * extents into more than the inode holds; the extent tree grows an index block and,
 * when the extents merge again, frees it, and on a filesystem mounted with `discard`
 * without a journal that free is a synchronous discard (docs/performance.md).
 */
static struct cf_pool_slot *slot_next(struct cf_pool *p)
{
	struct cf_pool_slot *prev = NULL;

	for (struct cf_pool_slot *s = p->whead; s; prev = s, s = s->next) {
		if (s->ordered && s->f->wbusy)
			continue;
		if (prev)
			prev->next = s->next;
		else
			p->whead = s->next;
		if (p->wtail == s)
			p->wtail = prev;
		if (s->ordered)
			s->f->wbusy = 1;
		return s;
	}
	return NULL;
}

static void *writer(void *arg)
{
	struct cf_pool *p = arg;

	pthread_mutex_lock(&p->mu);
	for (;;) {
		struct cf_pool_slot *s = slot_next(p);
		struct cf_pool_file *f;

		if (!s) {
			if (p->wclosing && !p->whead)
				break;
			pthread_cond_wait(&p->wmore, &p->mu);
			continue;
		}
		pthread_mutex_unlock(&p->mu);
		slot_write(p, s);
		f = s->f;
		pthread_mutex_lock(&p->mu);
		if (s->ordered) {
			f->wbusy = 0;
			if (p->whead) /* a slot of @f may wait for another writer */
				pthread_cond_broadcast(&p->wmore);
		}
		slot_free_locked(p, s);
		pthread_mutex_unlock(&p->mu);
		cf_pool_file_put(p, f); /* after the write: the last reference sets mode and time */
		pthread_mutex_lock(&p->mu);
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

/* Queue the filled slot @s for a writer: @len bytes at @off of @f (a new reference),
 * with @head and @tail bytes around them; @ordered: after @f's earlier ordered slots. */
static void slot_queue(struct cf_pool *p, struct cf_pool_slot *s, struct cf_pool_file *f,
                       size_t len, uint64_t off, uint32_t head, uint32_t tail, int ordered)
{
	s->ordered = ordered;
	s->len = len;
	s->off = off;
	s->head = head;
	s->tail = tail;
	s->f = f;
	s->next = NULL;
	pthread_mutex_lock(&p->mu);
	f->refs++;
	if (!p->wtried) { /* the first direct write starts the writers */
		p->wtried = 1;
		while (p->nwriters < POOL_WRITERS &&
		       pthread_create(&p->wtids[p->nwriters], NULL, writer, p) == 0)
			p->nwriters++;
	}
	if (p->nwriters) {
		if (p->wtail)
			p->wtail->next = s;
		else
			p->whead = s;
		p->wtail = s;
		pthread_cond_signal(&p->wmore);
		pthread_mutex_unlock(&p->mu);
		return;
	}
	pthread_mutex_unlock(&p->mu);
	slot_write(p, s); /* no writer thread could start: write it here */
	cf_pool_direct_give(p, s);
	cf_pool_file_put(p, f);
}

int cf_pool_direct_take(struct cf_pool *p, struct cf_pool_slot **out)
{
	struct cf_pool_slot *s;
	int rc;

	pthread_mutex_lock(&p->mu);
	while (!p->free_slots && !p->err)
		pthread_cond_wait(&p->slot_back, &p->mu);
	rc = p->err;
	s = p->free_slots;
	if (!rc)
		p->free_slots = s->next;
	pthread_mutex_unlock(&p->mu);
	if (rc)
		return rc;
	if (!s->buf) {
		void *b = NULL;

		if (posix_memalign(&b, POOL_PAGE, POOL_SLOT_ALLOC) != 0) {
			cf_pool_direct_give(p, s);
			return -ENOMEM;
		}
		s->buf = b;
		s->data = s->buf + POOL_PAGE;
	}
	*out = s;
	return 0;
}

/* Whether @f's whole units go direct now. */
static int goes_direct(struct cf_pool *p, struct cf_pool_file *f)
{
	return f->dfd >= 0 && !atomic_load(&f->buffered) && !atomic_load(&p->nodirect);
}

void cf_pool_direct_flush(struct cf_pool *p, struct cf_pool_file *f)
{
	char shown[256];
	int rc;

	if (!f->carry_len)
		return;
	rc = write_buffered(p, f, f->carry, f->carry_len, f->carry_off);
	f->carry_len = 0;
	if (rc) {
		cf_log_err("cannot write \"%s\": %s",
		           cf_archive_printable(f->path, shown, sizeof(shown)), strerror(-rc));
		cf_pool_fail(p, rc);
	}
}

/* Write the rest of an in-order piece buffered: the carried page start, then
 * @buf[0..@len) at @off (a fallback; the planner's pieces are contiguous). */
static int stream_buffered(struct cf_pool *p, struct cf_pool_file *f, const uint8_t *buf,
                           size_t len, uint64_t off)
{
	int rc = 0;

	if (f->carry_len)
		rc = write_buffered(p, f, f->carry, f->carry_len, f->carry_off);
	f->carry_len = 0;
	return rc ? rc : write_buffered(p, f, buf, len, off);
}

/*
 * The pieces of a file written in order (cf_pool_item.seq), each starting where the last
 * one ended: every page is written whole and direct, in slots that begin with the start
 * of the page the last piece ended in (f->carry), and the end of this piece waits in
 * f->carry for the next one; only the file's last partial page is written buffered. So
 * the file's preallocated blocks are converted front to back with no page left over
 * between pieces (docs/performance.md: each page left between direct writes splits the
 * file's extents until writeback, and their merging frees extent index blocks).
 */
static int direct_stream(struct cf_pool *p, struct cf_pool_file *f, const uint8_t *buf,
                         size_t len, uint64_t off)
{
	uint32_t c = f->carry_len;
	uint64_t start = c ? f->carry_off : off, end = off + len, hi = end / POOL_PAGE * POOL_PAGE;
	int last = end >= f->size;
	uint32_t tail = (uint32_t)(end - hi);

	if (hi <= start) { /* no whole page yet */
		if (last)
			return stream_buffered(p, f, buf, len, off);
		if (!f->carry && !(f->carry = malloc(POOL_PAGE)))
			return stream_buffered(p, f, buf, len, off);
		memcpy(f->carry + c, buf, len);
		f->carry_off = start;
		f->carry_len = c + (uint32_t)len;
		return 0;
	}
	for (uint64_t pos = start; pos < hi;) {
		size_t n = hi - pos > POOL_SLOT_BYTES ? POOL_SLOT_BYTES : (size_t)(hi - pos);
		uint32_t t = last && pos + n == hi ? tail : 0;
		struct cf_pool_slot *s;
		int rc;

		if (!goes_direct(p, f) || (rc = cf_pool_direct_take(p, &s)) == -ENOMEM) {
			size_t k = pos == start ? 0 : (size_t)(pos - off);

			return stream_buffered(p, f, buf + k, len - k, off + k);
		}
		if (rc)
			return rc;
		if (pos == start && c) { /* the page the last piece ended in, completed */
			memcpy(s->data, f->carry, c);
			memcpy(s->data + c, buf, n - c + t);
			f->carry_len = 0;
		} else {
			memcpy(s->data, buf + (pos - off), n + t);
		}
		slot_queue(p, s, f, n, pos, 0, t, 1);
		pos += n;
	}
	if (!last && tail) {
		if (!f->carry && !(f->carry = malloc(POOL_PAGE)))
			return write_buffered(p, f, buf + (hi - off), tail, hi);
		memcpy(f->carry, buf + (hi - off), tail);
		f->carry_off = hi;
		f->carry_len = tail;
	}
	return 0;
}

int cf_pool_direct_piece(struct cf_pool *p, struct cf_pool_file *f, const uint8_t *buf,
                         size_t len, uint64_t off, uint64_t min, int ordered)
{
	uint64_t end = off + len, lo, hi, pos, upto;
	size_t step;
	int carry, rc = 0;

	if (ordered && f->align == POOL_PAGE && f->dfd >= 0) {
		if (f->carry_len && f->carry_off + f->carry_len != off) /* not contiguous */
			cf_pool_direct_flush(p, f);
		if (goes_direct(p, f) && (f->carry_len || off % POOL_PAGE == 0))
			return direct_stream(p, f, buf, len, off);
		if (f->carry_len)
			return stream_buffered(p, f, buf, len, off);
	}
	if (!goes_direct(p, f))
		return write_buffered(p, f, buf, len, off);
	lo = (off + f->align - 1) / f->align * f->align;
	hi = end / f->align * f->align;
	if (hi <= lo || hi - lo < min)
		return write_buffered(p, f, buf, len, off);
	/* the partial pages ride with the slots (the writer writes them, and the worker
	 * never waits for the file's lock behind a direct write) when they fit a page */
	carry = f->align == POOL_PAGE;
	upto = carry ? end : hi;
	if (!carry)
		rc = write_buffered(p, f, buf, (size_t)(lo - off), off);
	step = POOL_SLOT_BYTES - POOL_SLOT_BYTES % f->align;
	for (pos = lo; !rc && pos < hi; pos += step) {
		size_t n = hi - pos > step ? step : (size_t)(hi - pos);
		uint32_t h = carry && pos == lo ? (uint32_t)(lo - off) : 0;
		uint32_t t = carry && pos + n == hi ? (uint32_t)(end - hi) : 0;
		struct cf_pool_slot *s;

		if (!goes_direct(p, f) || (rc = cf_pool_direct_take(p, &s)) == -ENOMEM) {
			uint64_t from = pos - h; /* the rest, buffered */

			rc = write_buffered(p, f, buf + (from - off), (size_t)(upto - from), from);
			if (!rc && !carry)
				rc = write_buffered(p, f, buf + (hi - off), (size_t)(end - hi), hi);
			return rc;
		}
		if (rc)
			return rc;
		memcpy(s->data - h, buf + (pos - off) - h, h + n + t);
		slot_queue(p, s, f, n, pos, h, t, 1);
	}
	if (!rc && !carry)
		rc = write_buffered(p, f, buf + (hi - off), (size_t)(end - hi), hi);
	return rc;
}

int cf_pool_direct_group(struct cf_pool *p, struct cf_pool_slot *s, struct cf_pool_file *f,
                         size_t len, uint64_t off)
{
	uint64_t end = off + len, lo, hi;
	int rc;

	if (!goes_direct(p, f)) {
		rc = write_buffered(p, f, s->data, len, off);
		cf_pool_direct_give(p, s);
		return rc;
	}
	/* direct however small its whole units are: the group is one write */
	lo = (off + f->align - 1) / f->align * f->align;
	hi = end / f->align * f->align;
	if (hi <= lo) {
		rc = write_buffered(p, f, s->data, len, off);
		cf_pool_direct_give(p, s);
		return rc;
	}
	if (f->align == POOL_PAGE) { /* the partial pages ride with the slot */
		if (lo != off) /* the first whole page to the (aligned) data start */
			memmove(s->data - (lo - off), s->data, len);
		slot_queue(p, s, f, (size_t)(hi - lo), lo, (uint32_t)(lo - off), (uint32_t)(end - hi),
			   0);
		return 0;
	}
	rc = write_buffered(p, f, s->data, (size_t)(lo - off), off);
	if (!rc)
		rc = write_buffered(p, f, s->data + (hi - off), (size_t)(end - hi), hi);
	if (rc) {
		cf_pool_direct_give(p, s);
		return rc;
	}
	if (lo != off) /* the whole units to the slot's (aligned) data start */
		memmove(s->data, s->data + (lo - off), (size_t)(hi - lo));
	slot_queue(p, s, f, (size_t)(hi - lo), lo, 0, 0, 0);
	return 0;
}

int cf_pool_direct_init(struct cf_pool *p, unsigned nslots)
{
	pthread_cond_init(&p->slot_back, NULL);
	pthread_cond_init(&p->wmore, NULL);
	p->slots = calloc(nslots, sizeof(*p->slots));
	if (!p->slots)
		return -ENOMEM;
	p->nslots = nslots;
	for (unsigned i = 0; i < nslots; i++) {
		p->slots[i].next = p->free_slots;
		p->free_slots = &p->slots[i];
	}
	atomic_init(&p->nodirect, 0);
	atomic_init(&p->dbytes, 0);
	atomic_init(&p->bbytes, 0);
	atomic_init(&p->dfiles, 0);
	atomic_init(&p->fallbacks, 0);
	atomic_init(&p->test_writes, 0);
	cf_pool_set_direct(p, CF_POOL_DIRECT_AUTO);
	return 0;
}

void cf_pool_direct_end(struct cf_pool *p)
{
	unsigned n;

	pthread_mutex_lock(&p->mu);
	p->wclosing = 1;
	pthread_cond_broadcast(&p->wmore);
	n = p->nwriters;
	p->nwriters = 0;
	pthread_mutex_unlock(&p->mu);
	for (unsigned i = 0; i < n; i++)
		pthread_join(p->wtids[i], NULL);
}

void cf_pool_direct_free(struct cf_pool *p)
{
	for (unsigned i = 0; p->slots && i < p->nslots; i++)
		free(p->slots[i].buf);
	free(p->slots);
	p->slots = NULL;
	pthread_cond_destroy(&p->wmore);
	pthread_cond_destroy(&p->slot_back);
}
