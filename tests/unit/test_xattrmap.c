/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * xattrmap.c against virtiofsd's documented rules: first match wins, the
 * "map" shorthand's expansion, no match refused (client) or hidden
 * (server), malformed rules refused.
 */
#include <errno.h>
#include <string.h>

#include "../tap.h"
#include "xattrmap.h"

static const char *
host(const struct xattrmap *m, const char *name, int *err)
{
	static char buf[300];

	*err = xattrmap_to_host(m, name, buf, sizeof(buf));
	return *err == 0 ? buf : "";
}

static const char *
guest(const struct xattrmap *m, const char *name)
{
	const char *g = NULL;

	return xattrmap_to_guest(m, name, &g) == 0 ? g : "(hidden)";
}

int
main(void)
{
	struct xattrmap *m = NULL;
	int err;

	is_int(xattrmap_parse(":map::user.virtiofs.:", &m), 0, "map all");
	is_str(host(m, "trusted.x", &err), "user.virtiofs.trusted.x",
	    "map all: every name prefixed");
	is_str(guest(m, "user.virtiofs.security.y"), "security.y",
	    "map all: prefix stripped in lists");
	is_str(guest(m, "user.plain"), "(hidden)",
	    "map all: unprefixed host names hidden");
	xattrmap_free(m);

	is_int(xattrmap_parse(":map:trusted.:user.virtiofs.:", &m), 0,
	    "map with a key");
	is_str(host(m, "trusted.a", &err), "user.virtiofs.trusted.a",
	    "key matched: prefixed");
	is_str(host(m, "user.z", &err), "user.z", "others pass");
	host(m, "user.virtiofs.trusted.a", &err);
	is_int(err, -EPERM, "the prefix itself refused from the guest");
	is_str(guest(m, "trusted.hostonly"), "(hidden)",
	    "unprefixed key names on the host hidden");
	is_str(guest(m, "user.virtiofs.trusted.a"), "trusted.a", "stripped");
	is_str(guest(m, "user.z"), "user.z", "others listed");
	xattrmap_free(m);

	is_int(xattrmap_parse("/ok/client/user./ / /bad/all/// ", &m), 0,
	    "two rules, '/' separator, blanks between");
	is_str(host(m, "user.q", &err), "user.q", "ok rule");
	host(m, "security.q", &err);
	is_int(err, -EPERM, "bad rule: EPERM");
	is_str(guest(m, "user.q"), "(hidden)",
	    "no server rule but bad: hidden");
	xattrmap_free(m);

	is_int(xattrmap_parse(":unsupported:all:security.selinux::", &m), 0,
	    "unsupported");
	host(m, "security.selinux", &err);
	is_int(err, -ENOTSUP, "unsupported: ENOTSUP");
	host(m, "user.a", &err);
	is_int(err, -EPERM, "no rule matches: EPERM");
	is_str(guest(m, "security.selinux"), "(hidden)", "hidden in lists");
	xattrmap_free(m);

	m = NULL;
	is_int(xattrmap_parse(":prefix:all:a:", &m), -EINVAL, "short rule");
	is_int(xattrmap_parse(":weird:all:a:b:", &m), -EINVAL, "bad type");
	is_int(xattrmap_parse(":ok:some:a:b:", &m), -EINVAL, "bad scope");
	is_int(xattrmap_parse(":map:a:b: :ok:all:::", &m), -EINVAL,
	    "map not last");
	is_int(xattrmap_parse("  ", &m), -EINVAL, "no rules");
	ok(m == NULL, "nothing returned on failure");
	return done_testing();
}
