/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * xattr name mapping between the guest and the host (--xattrmap), with
 * virtiofsd's rule syntax and meaning (QEMU docs/tools/virtiofsd.rst,
 * "xattr-mapping"): rules ":type:scope:key:prepend:" with type prefix, ok,
 * bad or unsupported and scope client, server or all, tried in order, the
 * first match deciding; the shorthand ":map:key:prepend:" must be last.
 * A name no rule matches is refused (client side) or hidden (server side).
 * Built once per worker incarnation, read-only after: safe from any thread.
 */
#ifndef PHX_XATTRMAP_H
#define PHX_XATTRMAP_H

#include <stddef.h>

struct xattrmap;

/* Parses spec. -EINVAL on a malformed rule, -ENOMEM. */
int xattrmap_parse(const char *spec, struct xattrmap **ret);
/* Frees the map. Takes NULL. */
void xattrmap_free(struct xattrmap *m);
/*
 * The host name for a guest name (get/set/remove), written into buf.
 * -EPERM for a "bad" match or no match, -ENOTSUP for "unsupported",
 * -ERANGE if buf is too small.
 */
int xattrmap_to_host(const struct xattrmap *m, const char *name, char *buf,
    size_t size);
/*
 * The guest name for a host name (LISTXATTR): *ret points into host (a
 * suffix of it), or -ENODATA when the name is hidden.
 */
int xattrmap_to_guest(const struct xattrmap *m, const char *host,
    const char **ret);

#endif
