/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The syntax of option values: decimal integers in a range, strings that
 * fit their field, repeatable options appended in order, and the shapes
 * of --translate-uid/-gid, --uid-map/--gid-map, --modcaps and --xattrmap.
 * Each checker accepts exactly what virtiofsd does and reports a rejection
 * as the one config_error() line; none looks at the host (that is
 * config_validate.c) or knows which option table named the value
 * (config_opt.c).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config_int.h"

/* Decimal digits only: no sign, no spaces, no hex, no trailing junk. */
int
config_value_u64(const char *s, uint64_t *ret)
{
	uint64_t v = 0;

	if (*s == '\0')
		return -EINVAL;
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9')
			return -EINVAL;
		if (v > (UINT64_MAX - (uint64_t)(*s - '0')) / 10)
			return -ERANGE;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	*ret = v;
	return 0;
}

int
config_value_range(const char *what, const char *val, uint64_t min,
    uint64_t max, uint64_t *ret)
{
	uint64_t v;

	if (config_value_u64(val, &v) < 0 || v < min || v > max)
		return config_error("invalid value '%s' for %s (expected an "
				    "integer from %llu to %llu)",
		    val, what, (unsigned long long)min,
		    (unsigned long long)max);
	*ret = v;
	return 0;
}

int
config_value_uint(const char *what, const char *val, unsigned min, unsigned max,
    unsigned *ret)
{
	uint64_t v;
	int r;

	if ((r = config_value_range(what, val, min, max, &v)) < 0)
		return r;
	*ret = (unsigned)v;
	return 0;
}

int
config_value_copy(const char *what, char *dst, size_t size, const char *val)
{
	size_t len = strlen(val);

	if (len == 0)
		return config_error("empty value for %s", what);
	if (len >= size)
		return config_error("value for %s is too long (at most %zu "
				    "bytes)",
		    what, size - 1);
	memcpy(dst, val, len + 1);
	return 0;
}

/* Appends one more occurrence of a repeatable option, space-separated. */
int
config_value_append(const char *what, char *dst, size_t size, const char *val)
{
	size_t used = strlen(dst);

	if (used + (used > 0) + strlen(val) >= size)
		return config_error("too many %s values (at most %zu bytes in "
				    "all)",
		    what, size - 1);
	if (used > 0)
		dst[used++] = ' ';
	memcpy(dst + used, val, strlen(val) + 1);
	return 0;
}

/*
 * Splits "<prefix><sep>n<sep>n..." as virtiofsd's soft_idmap does: the
 * prefix is letters, digits, '-' and '_', the separator the first other
 * character. Returns the number of fields (all u32), or -EINVAL.
 */
static int
split_ids(const char *s, char *prefix, size_t prefix_size, uint32_t *ids,
    int max_ids, bool trailing_sep)
{
	size_t plen = strspn(s,
	    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_");
	char sep, buf[256], *save = NULL, *tok;
	int n = 0;
	size_t len;

	if (plen >= prefix_size || s[plen] == '\0')
		return -EINVAL;
	memcpy(prefix, s, plen);
	prefix[plen] = '\0';
	sep = s[plen];
	len = strlen(s + plen + 1);
	if (len >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, s + plen + 1, len + 1);
	if (trailing_sep) {
		if (len == 0 || buf[len - 1] != sep)
			return -EINVAL;
		buf[--len] = '\0';
	}
	/* Empty fields are errors, so strtok's merging of seps is checked. */
	for (size_t i = 0; i + 1 < len; i++)
		if (buf[i] == sep && buf[i + 1] == sep)
			return -EINVAL;
	if (len == 0 || buf[0] == sep || buf[len - 1] == sep)
		return -EINVAL;
	for (tok = strtok_r(buf, (char[]){sep, '\0'}, &save); tok != NULL;
	     tok = strtok_r(NULL, (char[]){sep, '\0'}, &save)) {
		uint64_t v;

		if (n == max_ids || config_value_u64(tok, &v) < 0 ||
		    v > UINT32_MAX)
			return -EINVAL;
		ids[n++] = (uint32_t)v;
	}
	return n;
}

/* --translate-uid/-gid: "<type>:<a>:<b>:<count>" (virtiofsd's soft_idmap). */
int
config_value_translate(const char *what, const char *val)
{
	static const char *const three[] = {"guest", "host", "squash-guest",
	    "squash-host", "map"};
	char prefix[16];
	uint32_t ids[4];
	int n, want = -1;

	n = split_ids(val, prefix, sizeof(prefix), ids, 4, false);
	if (n >= 0) {
		for (size_t i = 0; i < nitems(three); i++)
			if (strcasecmp(prefix, three[i]) == 0)
				want = 3;
		if (strcasecmp(prefix, "forbid-guest") == 0)
			want = 2;
	}
	if (n < 0 || n != want || ids[n - 1] == 0)
		return config_error("invalid value '%s' for %s (expected "
				    "TYPE:FROM:TO:COUNT or "
				    "forbid-guest:FROM:COUNT)",
		    val, what);
	return 0;
}

/* --uid-map/--gid-map: ":<namespace id>:<host id>:<count>:". */
int
config_value_idmap(const char *what, const char *val)
{
	char prefix[2];
	uint32_t ids[3];

	if (split_ids(val, prefix, sizeof(prefix), ids, 3, true) != 3 ||
	    prefix[0] != '\0' || ids[2] == 0)
		return config_error("invalid value '%s' for %s (expected "
				    ":NAMESPACE_ID:HOST_ID:COUNT:)",
		    val, what);
	return 0;
}

/* "+cap:-cap:..." with capability names as libcap-ng spells them. */
int
config_value_modcaps(const char *what, const char *val)
{
	const char *p = val;

	for (;;) {
		size_t n;

		if (*p != '+' && *p != '-')
			break;
		p++;
		n = strspn(p, "abcdefghijklmnopqrstuvwxyz"
			      "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_");
		if (n == 0)
			break;
		p += n;
		if (*p == '\0')
			return 0;
		if (*p++ != ':')
			break;
	}
	return config_error("invalid value '%s' for %s (expected +cap or -cap, "
			    "separated by ':')",
	    val, what);
}

/*
 * --xattrmap: rules "<sep>TYPE<sep>SCOPE<sep>KEY<sep>PREPEND<sep>" with TYPE
 * prefix, ok, bad or unsupported and SCOPE client, server or all, or the
 * shorthand "<sep>map<sep>KEY<sep>PREPEND<sep>"; rules may be separated by
 * white space (C virtiofsd's docs/tools/virtiofsd.rst). Checks the shape only;
 * the passthrough layer builds the map.
 */
static bool
xattr_field(const char **p, char sep, const char *const *allowed)
{
	const char *end = strchr(*p, sep);
	size_t len;

	if (end == NULL)
		return false;
	len = (size_t)(end - *p);
	for (; allowed != NULL && *allowed != NULL; allowed++)
		if (strlen(*allowed) == len && strncmp(*p, *allowed, len) == 0)
			break;
	if (allowed != NULL && *allowed == NULL)
		return false;
	*p = end + 1;
	return true;
}

int
config_value_xattrmap(const char *what, const char *val)
{
	static const char *const map[] = {"map", NULL};
	static const char *const types[] = {"prefix", "ok", "bad",
	    "unsupported", NULL};
	static const char *const scopes[] = {"client", "server", "all", NULL};
	const char *p = val;
	int rules = 0;

	for (;;) {
		char sep;

		p += strspn(p, " \t\n");
		if (*p == '\0')
			break;
		sep = *p++;
		if (xattr_field(&p, sep, map)) {
			/* KEY and PREPEND */
			if (!xattr_field(&p, sep, NULL) ||
			    !xattr_field(&p, sep, NULL))
				goto fail;
		} else if (!xattr_field(&p, sep, types) ||
			   !xattr_field(&p, sep, scopes) ||
			   !xattr_field(&p, sep, NULL) ||
			   !xattr_field(&p, sep, NULL)) {
			goto fail;
		}
		rules++;
	}
	if (rules > 0)
		return 0;
fail:
	return config_error("invalid value '%s' for %s (expected rules like "
			    ":prefix:all::user.virtiofs.: or "
			    ":map::user.virtiofs.:)",
	    val, what);
}
