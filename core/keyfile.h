/* SPDX-License-Identifier: ISC */
#pragma once

/*
 * Key files: small files holding secrets (keychains, keyvaultd's escrow key).
 * Written atomically (temporary file in the same folder, fsync, rename, fsync of the
 * folder) with mode 0600 from creation; read only when owned by the current user and
 * not accessible to group or others (like ssh), straight into secure memory.
 */
#include <stddef.h>
#include <stdint.h>

#include "core/secbuf.h"

#define CF_KEYFILE_MAX_BYTES (1u << 20)

/*
 * cf_keyfile_write - atomically create or replace @path with @len bytes, mode 0600.
 * With @exclusive, refuses an existing @path with CF_E_EXISTS.
 * Returns 0, CF_E_EXISTS, CF_E_LIMIT, or a negative errno.
 */
int cf_keyfile_write(const char *path, const void *data, size_t len, int exclusive);

/*
 * cf_keyfile_read - read @path into a new secure buffer. Sets *@out only on success.
 * Returns 0; CF_E_NOTFOUND when absent; CF_E_PERM when group/other may access it or
 * another user owns it; CF_E_LIMIT when larger than CF_KEYFILE_MAX_BYTES; -errno.
 */
int cf_keyfile_read(const char *path, struct cf_secbuf **out);
