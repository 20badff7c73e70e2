/* SPDX-License-Identifier: ISC */
#include <errno.h>
#include <string.h>

#include "core/core.h"
#include "core/secbuf.h"
#include "tests/lib/check.h"

int main(void)
{
	struct cf_secbuf *b = NULL, *d = NULL, *z = NULL;
	uint8_t *p;

	REQUIRE(cf_core_init() == 0);
	CHECK_RC(cf_secbuf_new(&b, 64), 0);
	REQUIRE(b);
	CHECK(cf_secbuf_len(b) == 64);
	CHECK(cf_core_is_zero(cf_secbuf_data(b), 64));
	memset(cf_secbuf_data(b), 0x5a, 64);
	cf_secbuf_shrink(b, 10);
	CHECK(cf_secbuf_len(b) == 10);
	p = cf_secbuf_data(b);
	CHECK(p[9] == 0x5a);
	/* the tail beyond the new length is wiped at once */
	CHECK(cf_core_is_zero(p + 10, 54));
	cf_secbuf_shrink(b, 20); /* growing is a no-op */
	CHECK(cf_secbuf_len(b) == 10);

	CHECK_RC(cf_secbuf_dup(&d, "secret", 6), 0);
	CHECK(cf_secbuf_len(d) == 6 && memcmp(cf_secbuf_data(d), "secret", 6) == 0);
	CHECK_RC(cf_secbuf_new(&z, 0), 0);
	CHECK(z && cf_secbuf_len(z) == 0 && cf_secbuf_data(z) != NULL);

	/* an impossible size fails and leaves *out alone */
	{
		struct cf_secbuf *keep = (struct cf_secbuf *)&p;
		CHECK(cf_secbuf_new(&keep, SIZE_MAX - 8) == -ENOMEM);
		CHECK(keep == (struct cf_secbuf *)&p);
	}
	{
		void *m = cf_secmem_alloc(100);
		CHECK(m && cf_core_is_zero(m, 100));
		cf_secmem_free(m);
		cf_secmem_free(NULL);
	}
	CHECK(cf_core_equal("abc", "abc", 3) == 1);
	CHECK(cf_core_equal("abc", "abd", 3) == 0);
	cf_secbuf_free(b);
	cf_secbuf_free(d);
	cf_secbuf_free(z);
	cf_secbuf_free(NULL);
	return check_finish();
}
