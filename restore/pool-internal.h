/* SPDX-License-Identifier: ISC */
#pragma once

/*
 * What the two halves of the restore's worker pool share: restore/pool.c (the queue, the
 * workers, the files' reference counts) and restore/pool_direct.c (how bytes reach the
 * files: buffered, or direct through the pool's aligned slots and its writer threads).
 * Nothing outside those two files includes this.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "restore/pool.h"

#define POOL_PAGE 4096u                    /* direct writes never share a page with buffered ones */
#define POOL_SLOT_BYTES CF_POOL_DIRECT_STEP /* one slot's aligned buffer */
#define POOL_WRITERS 2                      /* writer threads: direct writes in flight at once */

/*
 * An aligned buffer of the pool, and the writes it carries while it waits for (or is in)
 * a writer thread: @len bytes at @data written direct at @off, and around them the
 * partial pages of the piece, @head bytes just before @data (written buffered at
 * @off - @head) and @tail bytes just after (buffered, at @off + @len). A slot belongs to
 * one thread at a time: free (on the pool's list), a worker's (being filled), queued, or
 * a writer's.
 */
struct cf_pool_slot {
	struct cf_pool_slot *next;
	uint8_t *buf;            /* POOL_SLOT_ALLOC bytes, page-aligned; allocated at first use */
	uint8_t *data;           /* buf + POOL_PAGE: room for a partial page before it */
	struct cf_pool_file *f;  /* queued: the file, holding one reference */
	size_t len;              /* queued: data[0..len) direct ... */
	uint64_t off;            /* ... at this offset of f (both multiples of f->align) */
	uint32_t head, tail;     /* queued: the buffered bytes around them */
	int ordered;             /* queued: written after f's earlier ordered slots, not beside */
};

/* A slot's allocation: a page for a piece's head, POOL_SLOT_BYTES, a page for its tail. */
#define POOL_SLOT_ALLOC (POOL_SLOT_BYTES + 2 * POOL_PAGE)

struct cf_pool {
	pthread_mutex_t mu;
	pthread_cond_t more; /* an item was queued, the end was announced, or an error */
	pthread_cond_t room; /* an item was taken, or an error */
	pthread_cond_t idle; /* a worker ended */
	pthread_cond_t drained; /* a file's list of handed-over items got shorter, or an error */
	struct cf_pool_item *head, *tail;
	size_t queued, cap;
	unsigned running; /* workers not yet ended */
	int closing;      /* no more items will come */
	int err;          /* the first error; 0 while all is well */
	_Atomic uint64_t bytes;
	cf_dbmap_get_fn get;
	void *gctx;
	const volatile sig_atomic_t *stop;
	pthread_t *tids;
	unsigned n;   /* threads started */
	int joined;

	/* pool_direct.c; the lists and flags under mu */
	int direct;             /* enum cf_pool_direct, AUTO resolved */
	atomic_int nodirect;    /* O_DIRECT was refused: no more tries */
	_Atomic uint64_t dbytes, bbytes, dfiles, fallbacks, test_writes;
	pthread_cond_t slot_back;  /* a slot went back to the free list, or an error */
	pthread_cond_t wmore;      /* a slot was queued for the writers, or they are to end */
	struct cf_pool_slot *slots; /* nslots of them */
	unsigned nslots;
	struct cf_pool_slot *free_slots;
	struct cf_pool_slot *whead, *wtail; /* queued for the writers */
	pthread_t wtids[POOL_WRITERS];
	unsigned nwriters;      /* writer threads started */
	int wtried;             /* they were started (or could not be) */
	int wclosing;           /* writers: end once the queue is empty */
};

/* cf_pool_direct_env_off - $COFFER_RESTORE_DIRECT is "0": direct writes turned off. */
int cf_pool_direct_env_off(void);

/* cf_pool_failed - the pool's first error, 0 while all is well (takes the mutex). */
int cf_pool_failed(struct cf_pool *p);

/* cf_pool_direct_init - set up @nslots slots (their buffers come at first use) and the
 * direct-write state; call once from cf_pool_new. Returns 0 or -ENOMEM. */
int cf_pool_direct_init(struct cf_pool *p, unsigned nslots);

/*
 * cf_pool_direct_take - a free slot for the calling worker, with its buffer, waiting
 * while every slot is in use. Returns 0 and sets *@out, the pool's error when it has one,
 * or -ENOMEM when the buffer cannot be allocated.
 */
int cf_pool_direct_take(struct cf_pool *p, struct cf_pool_slot **out);

/* cf_pool_direct_give - give the unused slot @s back. */
void cf_pool_direct_give(struct cf_pool *p, struct cf_pool_slot *s);

/*
 * cf_pool_direct_piece - write @buf[0..@len) at @off of @f: the whole units inside it
 * direct (copied into slots and queued for the writers) when they are at least @min
 * bytes and @f has a direct descriptor, the partial pages at its ends with them (by the
 * writer, buffered; by the caller when @f's unit is larger than a page), and otherwise
 * all of it buffered, now. @ordered: @f's pieces come in file order, each where the last
 * ended (the caller guarantees it): then every page but the file's last partial one is
 * written whole and direct, the end of a piece waiting in @f's carry for the next piece
 * (@min does not apply). Returns 0 or -errno of a buffered write; a queued write's
 * failure becomes the pool's error (logged there).
 */
int cf_pool_direct_piece(struct cf_pool *p, struct cf_pool_file *f, const uint8_t *buf,
                         size_t len, uint64_t off, uint64_t min, int ordered);

/* cf_pool_direct_flush - write @f's carried page start buffered (after its pieces stopped
 * coming in order, or at its end); a failure becomes the pool's error, logged. */
void cf_pool_direct_flush(struct cf_pool *p, struct cf_pool_file *f);

/*
 * cf_pool_direct_group - write the @len (<= POOL_SLOT_BYTES) bytes assembled at the
 * slot's @data at @off of @f, the whole units direct (the slot itself is queued, no copy)
 * and the rest buffered. Consumes @s. Returns as cf_pool_direct_piece.
 */
int cf_pool_direct_group(struct cf_pool *p, struct cf_pool_slot *s, struct cf_pool_file *f,
                         size_t len, uint64_t off);

/* cf_pool_direct_end - after the workers have ended: the writers finish what is queued
 * (only dropping it once the pool has an error) and are joined. Idempotent. */
void cf_pool_direct_end(struct cf_pool *p);

/* cf_pool_direct_free - free the slots (after cf_pool_direct_end). */
void cf_pool_direct_free(struct cf_pool *p);
