/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Soft uid/gid maps between guest and host (idmap.h). A few dozen rules
 * at most: a linear scan.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "compiler.h"
#include "idmap.h"

#define ID_END (UINT64_C(1) << 32)

static struct idmap uid_map, gid_map;

static bool
overlaps(const struct idmap_entry *t, unsigned n, uint64_t from,
    uint64_t count)
{
	for (unsigned i = 0; i < n; i++)
		if (from < t[i].from + t[i].count && t[i].from < from + count)
			return true;
	return false;
}

static int
add(struct idmap_entry *t, unsigned *n, const char *dir, uint64_t from,
    uint64_t count, uint32_t to, enum idmap_kind kind, char *err,
    size_t errlen)
{
	if (*n == IDMAP_MAX_RULES) {
		snprintf(err, errlen, "more than %d %s rules", IDMAP_MAX_RULES,
		    dir);
		return -EINVAL;
	}
	if (overlaps(t, *n, from, count)) {
		snprintf(err, errlen, "%s range [%" PRIu64 ", %" PRIu64 ") "
		    "intersects a previous rule", dir, from, from + count);
		return -EINVAL;
	}
	t[*n] = (struct idmap_entry){from, count, to, kind};
	(*n)++;
	return 0;
}

static int
parse_id(const char *s, uint64_t *ret)
{
	char *end;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	*ret = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0' || *ret > UINT32_MAX)
		return -EINVAL;
	return 0;
}

static int
parse_rule(struct idmap *m, const char *what, char *rule, char *err,
    size_t errlen)
{
	char *f[5], *save = NULL, *tok, copy[128];
	uint64_t v[3];
	int n = 0, want;

	snprintf(copy, sizeof(copy), "%s", rule);
	for (tok = strtok_r(rule, ":", &save); tok != NULL && n < 5;
	     tok = strtok_r(NULL, ":", &save))
		f[n++] = tok;
	want = n > 0 && strcasecmp(f[0], "forbid-guest") == 0 ? 3 : 4;
	if (n != want || tok != NULL)
		goto bad;
	for (int i = 1; i < n; i++)
		if (parse_id(f[i], &v[i - 1]) < 0)
			goto bad;
	if (want == 3) {
		if (v[1] == 0 || v[0] + v[1] > ID_END)
			goto range;
		return add(m->g2h, &m->n_g2h, "guest-to-host", v[0], v[1], 0,
		    IDMAP_FAIL, err, errlen);
	}
	if (v[2] == 0 || v[0] + v[2] > ID_END)
		goto range;
	if (strcasecmp(f[0], "squash-guest") == 0)
		return add(m->g2h, &m->n_g2h, "guest-to-host", v[0], v[2],
		    (uint32_t)v[1], IDMAP_SQUASH, err, errlen);
	if (strcasecmp(f[0], "squash-host") == 0)
		return add(m->h2g, &m->n_h2g, "host-to-guest", v[0], v[2],
		    (uint32_t)v[1], IDMAP_SQUASH, err, errlen);
	if (v[1] + v[2] > ID_END)
		goto range;
	if (strcasecmp(f[0], "guest") == 0)
		return add(m->g2h, &m->n_g2h, "guest-to-host", v[0], v[2],
		    (uint32_t)v[1], IDMAP_RANGE, err, errlen);
	if (strcasecmp(f[0], "host") == 0)
		return add(m->h2g, &m->n_h2g, "host-to-guest", v[0], v[2],
		    (uint32_t)v[1], IDMAP_RANGE, err, errlen);
	if (strcasecmp(f[0], "map") == 0) {
		int r = add(m->g2h, &m->n_g2h, "guest-to-host", v[0], v[2],
		    (uint32_t)v[1], IDMAP_RANGE, err, errlen);

		return r < 0 ? r : add(m->h2g, &m->n_h2g, "host-to-guest",
		    v[1], v[2], (uint32_t)v[0], IDMAP_RANGE, err, errlen);
	}
bad:
	snprintf(err, errlen, "invalid value '%s' for %s (expected "
	    "map|guest|host|squash-guest|squash-host:FROM:TO:COUNT or "
	    "forbid-guest:FROM:COUNT)", copy, what);
	return -EINVAL;
range:
	snprintf(err, errlen, "invalid value '%s' for %s (a count of 0, or a "
	    "range past 4294967295)", copy, what);
	return -EINVAL;
}

int
idmap_parse(struct idmap *m, const char *what, const char *spec, char *err,
    size_t errlen)
{
	char buf[1024], *tok, *save = NULL;
	int r;

	memset(m, 0, sizeof(*m));
	if (strlen(spec) >= sizeof(buf)) {
		snprintf(err, errlen, "%s: too long", what);
		return -EINVAL;
	}
	memcpy(buf, spec, strlen(spec) + 1);
	for (tok = strtok_r(buf, " ", &save); tok != NULL;
	     tok = strtok_r(NULL, " ", &save))
		if ((r = parse_rule(m, what, tok, err, errlen)) < 0)
			return r;
	return 0;
}

static const struct idmap_entry *
find(const struct idmap_entry *t, unsigned n, uint32_t id)
{
	for (unsigned i = 0; i < n; i++)
		if (id >= t[i].from && id < t[i].from + t[i].count)
			return &t[i];
	return NULL;
}

static uint32_t
apply(const struct idmap_entry *e, uint32_t id)
{
	if (e->kind == IDMAP_SQUASH)
		return e->to;
	return (uint32_t)(e->to + (id - e->from));
}

int
idmap_to_host(const struct idmap *m, uint32_t guest, uint32_t *ret_host)
{
	const struct idmap_entry *e;
	uint32_t h;

	/*
	 * -1 is no id: to the kernel's set*id it means "unchanged", so a
	 * request carrying it would run with the daemon's own ids (issue 9
	 * finding 2). Refused on the way in and out of every rule.
	 */
	if (guest == IDMAP_NO_ID)
		return -EPERM;
	e = find(m->g2h, m->n_g2h, guest);
	if (e != NULL && e->kind == IDMAP_FAIL)
		return -EPERM;
	h = e == NULL ? guest : apply(e, guest);
	if (h == IDMAP_NO_ID)
		return -EPERM;
	*ret_host = h;
	return 0;
}

uint32_t
idmap_to_guest(const struct idmap *m, uint32_t host)
{
	const struct idmap_entry *e = find(m->h2g, m->n_h2g, host);

	return e == NULL ? host : apply(e, host);
}

int
idmap_setup(const struct config *cfg, char *err, size_t errlen)
{
	int r;

	r = idmap_parse(&uid_map, "--translate-uid", cfg->translate_uid, err,
	    errlen);
	if (r == 0)
		r = idmap_parse(&gid_map, "--translate-gid",
		    cfg->translate_gid, err, errlen);
	if (r < 0) {
		memset(&uid_map, 0, sizeof(uid_map));
		memset(&gid_map, 0, sizeof(gid_map));
	}
	return r;
}

int
idmap_creds_to_host(uint32_t *uid, uint32_t *gid)
{
	uint32_t u, g;
	int r;

	if ((r = idmap_to_host(&uid_map, *uid, &u)) < 0 ||
	    (r = idmap_to_host(&gid_map, *gid, &g)) < 0)
		return r;
	*uid = u;
	*gid = g;
	return 0;
}

int
idmap_uid_to_host(uint32_t *uid)
{
	return idmap_to_host(&uid_map, *uid, uid);
}

int
idmap_gid_to_host(uint32_t *gid)
{
	return idmap_to_host(&gid_map, *gid, gid);
}

void
idmap_attr_to_guest(uint32_t *uid, uint32_t *gid)
{
	*uid = idmap_to_guest(&uid_map, *uid);
	*gid = idmap_to_guest(&gid_map, *gid);
}

bool
idmap_reaches(const struct idmap *m, uint32_t host)
{
	const struct idmap_entry *e;

	if (host == IDMAP_NO_ID)
		return false;
	/* The guest id equal to host, when no rule takes it elsewhere. */
	if (find(m->g2h, m->n_g2h, host) == NULL)
		return true;
	for (unsigned i = 0; i < m->n_g2h; i++) {
		e = &m->g2h[i];
		if (e->kind == IDMAP_SQUASH && e->to == host)
			return true;
		if (e->kind == IDMAP_RANGE && host >= e->to &&
		    host - e->to < e->count)
			return true;
	}
	return false;
}

bool
idmap_uid_reachable(uint32_t host)
{
	return idmap_reaches(&uid_map, host);
}

bool
idmap_gid_reachable(uint32_t host)
{
	return idmap_reaches(&gid_map, host);
}

bool
idmap_active(void)
{
	return uid_map.n_g2h != 0 || gid_map.n_g2h != 0;
}
