/* SPDX-License-Identifier: ISC */
#include "repo/chunker.h"

#include <errno.h>
#include <string.h>

#include "core/core.h"
#include "core/error.h"
#include "core/kdf.h"
#include "core/secbuf.h"

/*
 * The gear hash: h = (h << 1) + gear[byte]. A byte's table entry is shifted one bit
 * further left by each following byte, so after 64 bytes it has left the 64-bit state
 * entirely: the state is a function of the last 64 bytes only (the window). The cut test
 * looks at the state's top bits, which every byte of the window reaches, so the decision
 * at any position depends on exactly the 64 bytes ending there.
 */
#define WINDOW 64u

/*
 * Normalization level: below avg a cut needs log2(avg) + NORM zero top bits, from avg on
 * log2(avg) - NORM. Level 2 is the setting FastCDC's authors found to narrow the size
 * distribution well without hurting deduplication.
 */
#define NORM 2u

/*
 * Gear table expansion of the 32-byte gear key: KDF context (8 bytes, no NUL) and block
 * layout. (The gear key itself is the epoch's subkey "cfgear__"/4, docs/repository-format.md;
 * the table uses its own context so the two derivations can never be confused.)
 */
static const char gear_ctx[CF_KDF_CONTEXT_BYTES] = {'c', 'f', 'g', 'e', 'a', 'r', 't', 'b'};
#define GEAR_ENTRIES   256u
#define GEAR_BLOCK     64u                             /* bytes per cf_kdf_subkey call */
#define GEAR_PER_BLOCK (GEAR_BLOCK / 8u)               /* 8 entries per block */
#define GEAR_BLOCKS    (GEAR_ENTRIES / GEAR_PER_BLOCK) /* 32 calls, ids 0..31 */

struct cf_chunker {
	uint64_t gear[GEAR_ENTRIES]; /* key-derived: secret */
	uint64_t mask_s;             /* strict mask, chunk lengths [min, avg) */
	uint64_t mask_l;             /* loose mask, chunk lengths [avg, max) */
	uint64_t fp;                 /* gear state of the current chunk */
	uint64_t pos;                /* bytes of the current chunk seen so far (< max) */
	struct cf_chunker_params p;
};

void cf_chunker_params_default(struct cf_chunker_params *p)
{
	p->min = CF_CHUNKER_DEFAULT_MIN;
	p->avg = CF_CHUNKER_DEFAULT_AVG;
	p->max = CF_CHUNKER_DEFAULT_MAX;
}

int cf_chunker_params_check(const struct cf_chunker_params *p)
{
	if (!p)
		return CF_E_INVAL;
	if (p->min < CF_CHUNKER_MIN_LOWER || p->max > CF_CHUNKER_MAX_UPPER)
		return CF_E_INVAL;
	if (!(p->min < p->avg && p->avg < p->max))
		return CF_E_INVAL;
	if (p->avg & (p->avg - 1))
		return CF_E_INVAL;
	return 0;
}

static unsigned log2u32(uint32_t v)
{
	unsigned n = 0;

	while (v >>= 1)
		n++;
	return n;
}

/* A mask of the @bits most significant bits (1 <= bits <= 63). */
static uint64_t top_mask(unsigned bits)
{
	return ~UINT64_C(0) << (64u - bits);
}

static uint64_t load_le64(const uint8_t *b)
{
	uint64_t v = 0;

	for (unsigned i = 8; i-- > 0;)
		v = v << 8 | b[i];
	return v;
}

/* The gear table: entry 8*i + j = LE64(bytes 8j..8j+7 of KDF(key, id = i, "cfgeartb")). */
static int derive_gear(uint64_t gear[GEAR_ENTRIES], const uint8_t key[CF_CHUNKER_KEY_BYTES])
{
	uint8_t blk[GEAR_BLOCK];
	int r = 0;

	for (uint64_t i = 0; i < GEAR_BLOCKS; i++) {
		r = cf_kdf_subkey(blk, sizeof(blk), i, gear_ctx, key);
		if (r)
			break;
		for (unsigned j = 0; j < GEAR_PER_BLOCK; j++)
			gear[i * GEAR_PER_BLOCK + j] = load_le64(blk + 8u * j);
	}
	cf_core_wipe(blk, sizeof(blk));
	return r;
}

int cf_chunker_new(struct cf_chunker **out, const struct cf_chunker_params *p,
		   const uint8_t key[CF_CHUNKER_KEY_BYTES])
{
	struct cf_chunker_params def;
	struct cf_chunker *c;
	unsigned bits;
	int r;

	if (!p) {
		cf_chunker_params_default(&def);
		p = &def;
	}
	if (!out || !key || cf_chunker_params_check(p))
		return CF_E_INVAL;
	r = cf_core_init();
	if (r)
		return r;
	c = cf_secmem_alloc(sizeof(*c));
	if (!c)
		return -ENOMEM;
	r = derive_gear(c->gear, key);
	if (r) {
		cf_secmem_free(c);
		return r;
	}
	/* 128 <= avg <= 32 MiB by the bounds, so 7 <= bits <= 25 and both masks are valid */
	bits = log2u32(p->avg);
	c->mask_s = top_mask(bits + NORM);
	c->mask_l = top_mask(bits - NORM);
	c->p = *p;
	c->fp = 0;
	c->pos = 0;
	*out = c;
	return 0;
}

void cf_chunker_free(struct cf_chunker *c)
{
	cf_secmem_free(c);
}

void cf_chunker_reset(struct cf_chunker *c)
{
	c->fp = 0;
	c->pos = 0;
}

void cf_chunker_get_params(const struct cf_chunker *c, struct cf_chunker_params *p)
{
	*p = c->p;
}

uint64_t cf_chunker_pending(const struct cf_chunker *c)
{
	return c->pos;
}

/*
 * How many bytes of a @len-byte block, whose first byte has index @pos in the chunk,
 * come before chunk index @k.
 */
static size_t upto(uint64_t k, uint64_t pos, size_t len)
{
	if (k <= pos)
		return 0;
	return k - pos < len ? (size_t)(k - pos) : len;
}

/*
 * The scanner shared by the streaming and whole-buffer entry points. *@fpp and *@posp
 * are the gear state and the chunk index of buf[0]. Returns the chunk length when a cut
 * falls in buf (and *@consumed = bytes of buf in it), else 0 (and *@consumed = @len);
 * the state is updated for the next call either way.
 *
 * Chunk index i is the i-th byte of the chunk (from 0); a cut after index i gives a chunk
 * of i + 1 bytes. Phases, by chunk index:
 *   [0, min - 64)        skipped: they cannot influence any cut decision;
 *   [min - 64, min - 1)  hashed into the window, not tested (lengths < min);
 *   [min - 1, avg - 1)   hashed and tested against the strict mask;
 *   [avg - 1, max - 1)   hashed and tested against the loose mask;
 *   max - 1              cut unconditionally.
 */
static size_t scan(const struct cf_chunker *c, uint64_t *fpp, uint64_t *posp,
		   const uint8_t *buf, size_t len, size_t *consumed)
{
	const uint64_t *g = c->gear;
	const uint64_t mask_s = c->mask_s, mask_l = c->mask_l;
	const uint64_t pos = *posp;
	const size_t skip = upto(c->p.min - WINDOW, pos, len);
	const size_t warm = upto(c->p.min - 1u, pos, len);
	const size_t strict = upto(c->p.avg - 1u, pos, len);
	const size_t loose = upto(c->p.max - 1u, pos, len);
	uint64_t fp = *fpp;
	size_t i = skip;

	for (; i < warm; i++)
		fp = (fp << 1) + g[buf[i]];
	for (; i < strict; i++) {
		fp = (fp << 1) + g[buf[i]];
		if (!(fp & mask_s))
			goto cut;
	}
	for (; i < loose; i++) {
		fp = (fp << 1) + g[buf[i]];
		if (!(fp & mask_l))
			goto cut;
	}
	if (i < len)
		goto cut; /* chunk index max - 1: the chunk is full */

	*fpp = fp;
	*posp = pos + len;
	*consumed = len;
	return 0;

cut:
	*fpp = 0;
	*posp = 0;
	*consumed = i + 1;
	return (size_t)(pos + i + 1);
}

size_t cf_chunker_next(struct cf_chunker *c, const uint8_t *buf, size_t len,
		       size_t *consumed)
{
	if (len == 0) {
		*consumed = 0;
		return 0;
	}
	return scan(c, &c->fp, &c->pos, buf, len, consumed);
}

size_t cf_chunker_cut(const struct cf_chunker *c, const uint8_t *buf, size_t len)
{
	uint64_t fp = 0, pos = 0;
	size_t used, n;

	if (len == 0)
		return 0;
	n = scan(c, &fp, &pos, buf, len, &used);
	return n ? n : len;
}
