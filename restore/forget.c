/* SPDX-License-Identifier: ISC */
#include "restore/forget.h"

#include <string.h>

#include "core/encode.h"
#include "core/error.h"
#include "repo/snapshots.h"
#include "util/log.h"

int cf_restore_forget(struct cf_repo *r, const struct cf_manifest *m, uint64_t now,
                      uint8_t record[32])
{
	struct cf_forget f = {0};
	char name[CF_STORAGE_NAME_MAX];
	uint8_t id[32];
	int rc;

	f.seq = m->seq;
	memcpy(f.manifest, m->id, sizeof(f.manifest));
	f.has_prev = m->has_prev;
	if (m->has_prev)
		memcpy(f.prev, m->prev, sizeof(f.prev));
	f.time = now;
	rc = cf_repo_write_forget(r, &f, id);
	if (rc) {
		cf_log_err("%s: cannot store the forget record of snapshot #%llu: %s",
		           cf_repo_url(r), (unsigned long long)m->seq, cf_strerror(rc));
		return rc;
	}
	cf_repo_object_name(name, "snapshots", m->id);
	rc = cf_storage_delete(cf_repo_storage(r), name);
	if (rc == CF_E_NOTFOUND)
		rc = 0;
	if (rc) {
		cf_log_err("%s: the forget record of snapshot #%llu is stored but %s could not be"
		           " deleted (%s): run forget again",
		           cf_repo_url(r), (unsigned long long)m->seq, name, cf_strerror(rc));
		return rc;
	}
	if (record)
		memcpy(record, id, 32);
	return 0;
}
