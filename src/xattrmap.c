/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The --xattrmap rules (xattrmap.h), parsed into an array of {flags, key,
 * prepend}. "map" expands as virtiofsd expands it: prefix all, then either
 * "hide everything unprefixed" (empty key) or "hide unprefixed matches on
 * the host, refuse the prefix from the guest, allow the rest". No state
 * besides the map; no locks.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "xattrmap.h"

enum {
	XM_CLIENT = 1 << 0,
	XM_SERVER = 1 << 1,
	XM_PREFIX = 1 << 2,
	XM_OK = 1 << 3,
	XM_BAD = 1 << 4,
	XM_UNSUPPORTED = 1 << 5,
};

struct xm_rule {
	unsigned flags;
	char *key;
	char *prepend;
};

struct xattrmap {
	struct xm_rule *rules;
	unsigned n;
	unsigned cap;
};

static int
add_rule(struct xattrmap *m, unsigned flags, const char *key, size_t klen,
    const char *prepend, size_t plen)
{
	struct xm_rule *r;

	if (m->n == m->cap) {
		unsigned cap = m->cap ? m->cap * 2 : 8;
		struct xm_rule *v = realloc(m->rules, cap * sizeof(*v));

		if (v == NULL)
			return -ENOMEM;
		m->rules = v;
		m->cap = cap;
	}
	r = &m->rules[m->n];
	r->flags = flags;
	r->key = strndup(key, klen);
	r->prepend = strndup(prepend, plen);
	if (r->key == NULL || r->prepend == NULL) {
		free(r->key);
		free(r->prepend);
		return -ENOMEM;
	}
	m->n++;
	return 0;
}

/* The next field up to sep into ret and ret_len; advances past sep. */
static bool
field(const char **p, char sep, const char **ret, size_t *ret_len)
{
	const char *end = strchr(*p, sep);

	if (end == NULL)
		return false;
	*ret = *p;
	*ret_len = (size_t)(end - *p);
	*p = end + 1;
	return true;
}

static bool
is(const char *f, size_t len, const char *word)
{
	return strlen(word) == len && strncmp(f, word, len) == 0;
}

static int
add_map(struct xattrmap *m, const char *key, size_t klen, const char *pre,
    size_t plen)
{
	int err;

	if ((err = add_rule(m, XM_PREFIX | XM_CLIENT | XM_SERVER, key, klen,
		 pre, plen)) < 0)
		return err;
	if (klen == 0)
		return add_rule(m, XM_BAD | XM_CLIENT | XM_SERVER, "", 0, "",
		    0);
	if ((err = add_rule(m, XM_BAD | XM_SERVER, "", 0, key, klen)) < 0 ||
	    (err = add_rule(m, XM_BAD | XM_CLIENT, pre, plen, "", 0)) < 0)
		return err;
	return add_rule(m, XM_OK | XM_CLIENT | XM_SERVER, "", 0, "", 0);
}

int
xattrmap_parse(const char *spec, struct xattrmap **ret)
{
	struct xattrmap *m = calloc(1, sizeof(*m));
	const char *p = spec;
	bool ended = false;
	int err = -EINVAL;

	if (m == NULL)
		return -ENOMEM;
	for (;;) {
		const char *type, *scope, *key, *pre;
		size_t tl, sl, kl, pl;
		unsigned flags = 0;
		char sep;

		p += strspn(p, " \t\n");
		if (*p == '\0')
			break;
		if (ended)
			goto fail; /* "map" must be the last rule */
		sep = *p++;
		if (!field(&p, sep, &type, &tl))
			goto fail;
		if (is(type, tl, "map")) {
			if (!field(&p, sep, &key, &kl) ||
			    !field(&p, sep, &pre, &pl))
				goto fail;
			if ((err = add_map(m, key, kl, pre, pl)) < 0)
				goto fail;
			err = -EINVAL;
			ended = true;
			continue;
		}
		if (!field(&p, sep, &scope, &sl) || !field(&p, sep, &key, &kl) ||
		    !field(&p, sep, &pre, &pl))
			goto fail;
		if (is(type, tl, "prefix"))
			flags = XM_PREFIX;
		else if (is(type, tl, "ok"))
			flags = XM_OK;
		else if (is(type, tl, "bad"))
			flags = XM_BAD;
		else if (is(type, tl, "unsupported"))
			flags = XM_UNSUPPORTED;
		else
			goto fail;
		if (is(scope, sl, "client"))
			flags |= XM_CLIENT;
		else if (is(scope, sl, "server"))
			flags |= XM_SERVER;
		else if (is(scope, sl, "all"))
			flags |= XM_CLIENT | XM_SERVER;
		else
			goto fail;
		if ((err = add_rule(m, flags, key, kl, pre, pl)) < 0)
			goto fail;
		err = -EINVAL;
	}
	if (m->n == 0)
		goto fail;
	*ret = m;
	return 0;
fail:
	xattrmap_free(m);
	return err;
}

void
xattrmap_free(struct xattrmap *m)
{
	if (m == NULL)
		return;
	for (unsigned i = 0; i < m->n; i++) {
		free(m->rules[i].key);
		free(m->rules[i].prepend);
	}
	free(m->rules);
	free(m);
}

static bool
starts(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

int
xattrmap_to_host(const struct xattrmap *m, const char *name, char *buf,
    size_t size)
{
	for (unsigned i = 0; i < m->n; i++) {
		const struct xm_rule *r = &m->rules[i];
		size_t pl, nl;

		if (!(r->flags & XM_CLIENT) || !starts(name, r->key))
			continue;
		if (r->flags & XM_BAD)
			return -EPERM;
		if (r->flags & XM_UNSUPPORTED)
			return -ENOTSUP;
		pl = (r->flags & XM_PREFIX) ? strlen(r->prepend) : 0;
		nl = strlen(name);
		if (pl + nl + 1 > size)
			return -ERANGE;
		memcpy(buf, r->prepend, pl);
		memcpy(buf + pl, name, nl + 1);
		return 0;
	}
	return -EPERM;
}

int
xattrmap_to_guest(const struct xattrmap *m, const char *host,
    const char **ret)
{
	for (unsigned i = 0; i < m->n; i++) {
		const struct xm_rule *r = &m->rules[i];

		if (!(r->flags & XM_SERVER) || !starts(host, r->prepend))
			continue;
		if (r->flags & (XM_BAD | XM_UNSUPPORTED))
			return -ENODATA;
		*ret = (r->flags & XM_PREFIX) ? host + strlen(r->prepend)
					      : host;
		return 0;
	}
	return -ENODATA;
}
