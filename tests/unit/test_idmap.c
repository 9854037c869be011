/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * --translate-uid/-gid (idmap.c): virtiofsd's rule syntax, overlaps,
 * ranges, both directions, forbid-guest, the config validation line, and
 * id -1 refused under every kind of rule (issue 9 finding 2).
 */
#include <errno.h>
#include <string.h>

#include "config.h"
#include "idmap.h"
#include "tap.h"

static char err[256];

static int
parse(struct idmap *m, const char *spec)
{
	err[0] = '\0';
	return idmap_parse(m, "--translate-uid", spec, err, sizeof(err));
}

static uint32_t
host(const struct idmap *m, uint32_t g)
{
	uint32_t h = 0xdeadbeef;

	return idmap_to_host(m, g, &h) < 0 ? 0xffffffee : h;
}

int
main(void)
{
	struct idmap m;
	uint32_t h;

	is_int(parse(&m, ""), 0, "empty spec");
	is_int(host(&m, 1234), 1234, "empty: identity to host");
	is_int(idmap_to_guest(&m, 77), 77, "empty: identity to guest");

	is_int(parse(&m, "map:1000:2000:10"), 0, "map");
	is_int(host(&m, 1000), 2000, "map: first guest id");
	is_int(host(&m, 1009), 2009, "map: last guest id");
	is_int(host(&m, 1010), 1010, "map: past the range is identity");
	is_int(idmap_to_guest(&m, 2005), 1005, "map: host back to guest");
	is_int(idmap_to_guest(&m, 1005), 1005, "map: host 1005 unmapped");

	is_int(parse(&m, "guest:0:500:1"), 0, "guest (one way)");
	is_int(host(&m, 0), 500, "guest: 0 -> 500");
	is_int(idmap_to_guest(&m, 500), 500, "guest: no way back");

	is_int(parse(&m, "host:500:0:1"), 0, "host (one way)");
	is_int(idmap_to_guest(&m, 500), 0, "host: 500 -> guest 0");
	is_int(host(&m, 0), 0, "host: guest 0 stays");

	is_int(parse(&m, "squash-guest:0:107:4294967295 host:107:1000:1"), 0,
	    "squash-guest over everything + host (a common pairing)");
	is_int(host(&m, 0), 107, "squash: root -> 107");
	is_int(host(&m, 4294967294u), 107, "squash: last id -> 107");
	is_int(idmap_to_guest(&m, 107), 1000, "host 107 shows as 1000");

	is_int(parse(&m, "squash-host:0:65534:65536"), 0, "squash-host");
	is_int(idmap_to_guest(&m, 0), 65534, "squash-host: 0 -> nobody");
	is_int(idmap_to_guest(&m, 70000), 70000, "squash-host: past range");

	is_int(parse(&m, "forbid-guest:0:1000 map:1000:1000:1 "
			 "forbid-guest:1001:4294966295"),
	    0, "forbid-guest around one mapped id (the Incus pattern)");
	is_int(idmap_to_host(&m, 0, &h), -EPERM, "forbidden: EPERM");
	is_int(idmap_to_host(&m, 5000, &h), -EPERM, "forbidden high: EPERM");
	is_int(host(&m, 1000), 1000, "the mapped one passes");
	is_int(parse(&m, "FORBID-GUEST:5:1"), 0, "types are case-insensitive");

	/* errors */
	is_int(parse(&m, "map:0:0:10 guest:5:100:1"), -EINVAL,
	    "overlapping guest-to-host rules refused");
	ok(strstr(err, "intersects") != NULL, "message names the overlap: %s",
	    err);
	is_int(parse(&m, "map:0:0:10 host:20:5:1"), 0,
	    "host:20:5 does not overlap map's host range [0,10)");
	is_int(parse(&m, "map:0:0:10 host:5:100:1"), -EINVAL,
	    "overlapping host-to-guest rules refused");
	is_int(parse(&m, "map:1:2"), -EINVAL, "too few fields");
	is_int(parse(&m, "map:1:2:3:4"), -EINVAL, "too many fields");
	is_int(parse(&m, "forbid-guest:1:2:3"), -EINVAL, "forbid with 3 ids");
	is_int(parse(&m, "frob:1:2:3"), -EINVAL, "unknown type");
	ok(strstr(err, "frob:1:2:3") != NULL && strstr(err, "--translate-uid"),
	    "message names value and option: %s", err);
	is_int(parse(&m, "map:1:2:0"), -EINVAL, "count 0");
	is_int(parse(&m, "map:-1:2:3"), -EINVAL, "negative id");
	is_int(parse(&m, "map:1:x:3"), -EINVAL, "not a number");
	is_int(parse(&m, "map:4294967295:0:2"), -EINVAL, "range past 2^32");
	is_int(parse(&m, "map:0:4294967295:2"), -EINVAL,
	    "target range past 2^32");
	is_int(parse(&m, "squash-guest:0:7:4294967296"), -EINVAL,
	    "a count above u32 (as virtiofsd)");
	is_int(parse(&m, "map:4294967296:0:1"), -EINVAL, "id above u32");

	/*
	 * issue 9 finding 2: guest id -1 is refused under every kind of
	 * rule and with none, and so is a rule whose target is -1.
	 */
	{
		static const char *const modes[] = {"", "map:0:100000:65536",
		    "guest:0:500:1", "host:500:0:1",
		    "squash-guest:0:107:4294967295",
		    "squash-guest:0:107:4294967295 host:107:1000:1",
		    "forbid-guest:0:1000", "map:4294967294:7:1",
		    "guest:4294967290:1000:5"};

		for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
			h = 12345;
			parse(&m, modes[i]);
			ok(idmap_to_host(&m, UINT32_MAX, &h) == -EPERM &&
				h == 12345,
			    "guest -1 refused under '%s'", modes[i]);
		}
		is_int(parse(&m, "map:1000:4294967295:1"), 0,
		    "a rule whose host id is -1 parses (range ends at 2^32)");
		is_int(idmap_to_host(&m, 1000, &h), -EPERM,
		    "but guest 1000 -> host -1 is refused");
		is_int(parse(&m, "squash-guest:0:4294967295:10"), 0,
		    "squash to -1 parses");
		is_int(idmap_to_host(&m, 3, &h), -EPERM,
		    "but squashing to host -1 is refused");
	}

	/* the process maps and the pt.c hooks */
	{
		struct config cfg;
		uint32_t u, g;

		memset(&cfg, 0, sizeof(cfg));
		strcpy(cfg.translate_uid, "map:0:100000:65536");
		strcpy(cfg.translate_gid, "squash-guest:0:5:10 forbid-guest:10:1");
		is_int(idmap_setup(&cfg, err, sizeof(err)), 0, "setup");
		u = 0, g = 3;
		is_int(idmap_creds_to_host(&u, &g), 0, "creds map");
		ok(u == 100000 && g == 5, "creds: uid %u gid %u", u, g);
		u = 1, g = 10;
		is_int(idmap_creds_to_host(&u, &g), -EPERM, "forbidden gid");
		/* issue 9 finding 2: -1 would run as the daemon (root). */
		u = (uint32_t)-1, g = 2;
		is_int(idmap_creds_to_host(&u, &g), -EPERM, "creds: uid -1 EPERM");
		ok(u == (uint32_t)-1 && g == 2, "refused creds are unchanged");
		u = 2, g = (uint32_t)-1;
		is_int(idmap_creds_to_host(&u, &g), -EPERM, "creds: gid -1 EPERM");
		u = (uint32_t)-1;
		is_int(idmap_uid_to_host(&u), -EPERM, "SETATTR owner uid -1");
		g = (uint32_t)-1;
		is_int(idmap_gid_to_host(&g), -EPERM, "SETATTR owner gid -1");
		g = 3;
		ok(idmap_gid_to_host(&g) == 0 && g == 5, "SETATTR gid 3 -> 5");
		u = 100001, g = 5;
		idmap_attr_to_guest(&u, &g);
		ok(u == 1 && g == 5, "attr to guest: uid %u gid %u", u, g);
		/* Reachable host ids: the setuid guard (pt_guard_sxid). */
		ok(idmap_active(), "a map is active");
		ok(!idmap_uid_reachable(0), "host uid 0 unreachable under "
		    "map:0:100000:65536");
		ok(!idmap_uid_reachable(1000), "host uid 1000 unreachable");
		ok(idmap_uid_reachable(100000) && idmap_uid_reachable(165535),
		    "the map's image reachable");
		ok(idmap_uid_reachable(70000), "uncovered 70000 maps to itself");
		ok(!idmap_uid_reachable((uint32_t)-1), "-1 never reachable");
		ok(idmap_gid_reachable(5) && !idmap_gid_reachable(0) &&
		    !idmap_gid_reachable(10) && idmap_gid_reachable(11),
		    "gid: squash target 5 yes, squashed 0 and forbidden 10 "
		    "no, uncovered 11 yes");
		strcpy(cfg.translate_gid, "bogus");
		is_int(idmap_setup(&cfg, err, sizeof(err)), -EINVAL,
		    "setup refuses a bad gid rule");
		ok(strstr(err, "--translate-gid") != NULL, "%s", err);
	}
	return done_testing();
}
