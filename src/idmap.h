/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * --translate-uid / --translate-gid, with the syntax and meaning of the
 * Rust virtiofsd's soft id maps (src/soft_idmap): each rule is one of
 *
 *   map:GUEST:HOST:COUNT           both ways, 1:1
 *   guest:GUEST:HOST:COUNT         guest -> host only, 1:1
 *   host:HOST:GUEST:COUNT          host -> guest only, 1:1
 *   squash-guest:GUEST:HOST:COUNT  COUNT guest ids -> the one host id
 *   squash-host:HOST:GUEST:COUNT   COUNT host ids -> the one guest id
 *   forbid-guest:GUEST:COUNT       guest ids refused (EPERM)
 *
 * Ids no rule covers map to themselves, but -1 (IDMAP_NO_ID), which no
 * rule can give either: it is refused (EPERM). Two rules of the same direction
 * must not overlap; a range must end at or below 2^32.
 *
 * Guest -> host applies to the credentials a creation runs with and to the
 * owner of SETATTR; host -> guest to every attribute reply. Supplementary
 * groups: FUSE gives only the caller's uid, gid and pid (a guest pid), so
 * the permission checks use the caller's primary group alone, as virtiofsd
 * (docs/sandbox.md: FUSE_CREATE_SUPP_GROUP).
 */
#ifndef PHX_IDMAP_H
#define PHX_IDMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

#define IDMAP_MAX_RULES 32
/* (uint32_t)-1: "unchanged" to set*id and chown, never a mappable id. */
#define IDMAP_NO_ID UINT32_MAX

enum idmap_kind { IDMAP_RANGE, IDMAP_SQUASH, IDMAP_FAIL };

struct idmap_entry {
	uint64_t from, count; /* [from, from + count) in the source domain */
	uint32_t to;          /* target base (RANGE) or the one id (SQUASH) */
	enum idmap_kind kind;
};

struct idmap {
	unsigned n_g2h, n_h2g;
	struct idmap_entry g2h[IDMAP_MAX_RULES]; /* guest -> host */
	struct idmap_entry h2g[IDMAP_MAX_RULES]; /* host -> guest */
};

/*
 * Parses spec (rules separated by spaces, as config.c keeps repeated
 * options) into *m, which starts empty. -EINVAL with a one-line message in
 * err (what names the option).
 */
int idmap_parse(struct idmap *m, const char *what, const char *spec,
    char *err, size_t errlen);

/*
 * Guest id -> host id; -EPERM for a forbid-guest id and for -1 as the
 * guest id or as the host id a rule gives (IDMAP_NO_ID).
 */
int idmap_to_host(const struct idmap *m, uint32_t guest, uint32_t *ret_host);

/* Host id -> guest id. */
uint32_t idmap_to_guest(const struct idmap *m, uint32_t host);

/*
 * The process's maps, from cfg (config validation and each worker
 * incarnation). -EINVAL with the message in err.
 */
int idmap_setup(const struct config *cfg, char *err, size_t errlen);

/*
 * pt.c hooks, for the process's maps (identity before idmap_setup).
 * idmap_creds_to_host: a caller's uid and gid, both or neither (-EPERM,
 * ids unchanged). idmap_uid_to_host/idmap_gid_to_host: one SETATTR owner
 * (the caller skips an id the request does not set). -1 is refused by
 * each: it would mean "unchanged", i.e. the daemon's own ids.
 */
int idmap_creds_to_host(uint32_t *uid, uint32_t *gid);
int idmap_uid_to_host(uint32_t *uid);
int idmap_gid_to_host(uint32_t *gid);
void idmap_attr_to_guest(uint32_t *uid, uint32_t *gid);

/*
 * Whether some guest id maps to host id `host` (a guest request can run
 * as it, so a file it owns is the guest's to make setuid): false for -1
 * and for an id every rule sends elsewhere, e.g. host root under
 * map:0:100000:65536. idmap_reaches: for one map; the others for the
 * process's maps. idmap_active: the process has a rule at all (without
 * one every id but -1 is reachable).
 */
bool idmap_reaches(const struct idmap *m, uint32_t host);
bool idmap_uid_reachable(uint32_t host);
bool idmap_gid_reachable(uint32_t host);
bool idmap_active(void);

#endif
