/* SPDX-License-Identifier: ISC */
#include "core/stream.h"

#include <errno.h>
#include <sodium.h>

#include "core/error.h"

struct cf_stream {
	crypto_secretstream_xchacha20poly1305_state st;
	int done;  /* the FINAL message has been pushed or pulled */
};

static struct cf_stream *stream_alloc(void)
{
	struct cf_stream *s = sodium_malloc(sizeof(*s));

	if (s)
		s->done = 0;
	return s;
}

int cf_stream_push_new(struct cf_stream **out, uint8_t header[CF_STREAM_HEADER_BYTES],
		       const uint8_t key[CF_STREAM_KEY_BYTES])
{
	struct cf_stream *s = stream_alloc();

	if (!s)
		return -ENOMEM;
	crypto_secretstream_xchacha20poly1305_init_push(&s->st, header, key);
	*out = s;
	return 0;
}

int cf_stream_push(struct cf_stream *s, uint8_t *c, const uint8_t *m, size_t mlen,
		   const uint8_t *ad, size_t adlen, int final)
{
	unsigned char tag = final ? crypto_secretstream_xchacha20poly1305_TAG_FINAL
				  : crypto_secretstream_xchacha20poly1305_TAG_MESSAGE;

	if (s->done)
		return CF_E_INVAL;
	crypto_secretstream_xchacha20poly1305_push(&s->st, c, NULL, m, mlen, ad, adlen, tag);
	s->done = final;
	return 0;
}

int cf_stream_pull_new(struct cf_stream **out, const uint8_t header[CF_STREAM_HEADER_BYTES],
		       const uint8_t key[CF_STREAM_KEY_BYTES])
{
	struct cf_stream *s = stream_alloc();

	if (!s)
		return -ENOMEM;
	if (crypto_secretstream_xchacha20poly1305_init_pull(&s->st, header, key) != 0) {
		sodium_free(s);
		return CF_E_FORMAT;
	}
	*out = s;
	return 0;
}

int cf_stream_pull(struct cf_stream *s, uint8_t *m, const uint8_t *c, size_t clen,
		   const uint8_t *ad, size_t adlen, int *final)
{
	unsigned char tag = 0;

	if (clen < CF_STREAM_ABYTES)
		return CF_E_TRUNCATED;
	if (s->done ||
	    crypto_secretstream_xchacha20poly1305_pull(&s->st, m, NULL, &tag, c, clen, ad,
						       adlen) != 0) {
		sodium_memzero(m, clen - CF_STREAM_ABYTES);
		return CF_E_AUTH;
	}
	s->done = tag == crypto_secretstream_xchacha20poly1305_TAG_FINAL;
	*final = s->done;
	return 0;
}

void cf_stream_free(struct cf_stream *s)
{
	sodium_free(s);
}
