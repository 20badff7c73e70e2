/* SPDX-License-Identifier: ISC */
#include "backupd/kvlink.h"

#include <stdio.h>
#include <string.h>

#include "core/error.h"
#include "keyvault/protect.h"
#include "keyvault/slots.h"
#include "keyvault/witness.h"
#include "util/log.h"

int cf_kvlink_protection(struct cf_session *s, char *mode, size_t cap)
{
	struct cf_protect *p = NULL;
	int r = cf_protect_load(&p, s);

	mode[0] = '\0';
	if (r)
		return r;
	snprintf(mode, cap, "%s", p->has_record ? cf_prot_mode_name(p->rec.mode) : "local");
	cf_protect_free(p);
	return 0;
}

int cf_kvlink_after_backup(struct cf_session *s, uint64_t seq, const uint8_t id[32],
                           json_t **audit)
{
	int r = cf_witness_post(s, seq, id), a;

	if (r)
		cf_log_warn("snapshot #%llu not reported to the key vault's freshness witness: %s",
		            (unsigned long long)seq, cf_strerror(r));
	*audit = NULL;
	a = cf_audit_new(s->state_dir, s->kc, audit);
	if (a)
		cf_log_warn("cannot fetch the key vault's audit log: %s", cf_strerror(a));
	return r ? r : a;
}
