/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unit tests of fmsg: the argument cursor never reads past the copy,
 * iovec ranges and copies are bounds-checked, and replies are written
 * whole (or replaced by an error, or nothing) into split buffers.
 */
#include <errno.h>
#include <linux/fuse.h>
#include <stdint.h>
#include <string.h>

#include "../tap.h"
#include "fmsg.h"

static void
test_cursor(void)
{
	uint8_t buf[16] = {1, 2, 3, 4, 'a', 'b', 0, 'c', 'd'};
	struct fmsg_in c;
	uint32_t v = 0;
	uint64_t big[2];
	const char *s;
	size_t len;

	fmsg_in_init(&c, buf, 9);
	ok(fmsg_get(&c, &v, 4) == 0 && v == 0x04030201, "get 4 bytes");
	ok(fmsg_get_str(&c, &s, &len) == 0 && strcmp(s, "ab") == 0 && len == 2,
	    "string with NUL inside the copy");
	is_int(fmsg_left(&c), 2, "2 bytes left");
	ok(fmsg_get_str(&c, &s, &len) == -EINVAL, "string without NUL refused");
	is_int(fmsg_left(&c), 2, "failed get does not advance");
	v = 0xdead;
	ok(fmsg_get(&c, &v, 4) == -EINVAL && v == 0xdead,
	    "short get refused, dst untouched");
	ok(fmsg_get(&c, &v, 2) == 0 && fmsg_left(&c) == 0, "exact get");
	ok(fmsg_get_str(&c, &s, &len) == -EINVAL, "string at end refused");
	ok(fmsg_get(&c, &v, 0) == 0, "zero-length get at end");

	fmsg_in_init(&c, buf, 9);
	memset(big, 0xff, sizeof(big));
	ok(fmsg_get_compat(&c, big, 8, 16) == 0, "compat get of 9 into 16");
	ok(((uint8_t *)big)[8] == 'd' && ((uint8_t *)big)[9] == 0 &&
		((uint8_t *)big)[15] == 0,
	    "compat tail zero-filled");
	fmsg_in_init(&c, buf, 4);
	ok(fmsg_get_compat(&c, big, 8, 16) == -EINVAL, "compat below min");
	fmsg_in_init(&c, NULL, 100);
	ok(fmsg_left(&c) == 0 && fmsg_get(&c, &v, 1) == -EINVAL,
	    "NULL buffer is empty");
}

static void
test_iov(void)
{
	uint8_t a[5] = "abcde", b[3] = "fgh", c[4] = "ijkl", out[12];
	struct iovec v[3] = {{a, 5}, {b, 3}, {c, 4}};
	struct iovec d[4];
	unsigned n;

	is_int(fmsg_iov_total(v, 3), 12, "total");
	ok(fmsg_iov_range(v, 3, 4, 5, d, 4, &n) == 0 && n == 3 &&
		d[0].iov_base == a + 4 && d[0].iov_len == 1 &&
		d[1].iov_len == 3 && d[2].iov_base == c && d[2].iov_len == 1,
	    "range across buffers");
	ok(fmsg_iov_range(v, 3, 5, 3, d, 4, &n) == 0 && n == 1 &&
		d[0].iov_base == b,
	    "range starting on a boundary");
	ok(fmsg_iov_range(v, 3, 0, 0, d, 4, &n) == 0 && n == 0, "empty range");
	ok(fmsg_iov_range(v, 3, 10, 3, d, 4, &n) == -EINVAL, "range past end");
	ok(fmsg_iov_range(v, 3, SIZE_MAX, 1, d, 4, &n) == -EINVAL,
	    "huge offset");
	ok(fmsg_iov_range(v, 3, 0, 12, d, 2, &n) == -E2BIG, "too many entries");
	ok(fmsg_iov_copy(out, v, 3, 3, 7) == 0 &&
		memcmp(out, "defghij", 7) == 0,
	    "copy across buffers");
	ok(fmsg_iov_copy(out, v, 3, 6, 7) == -EINVAL, "copy past end");
}

static void
test_reply(void)
{
	uint8_t b1[10], b2[30], big[64];
	struct iovec out[2] = {{b1, sizeof(b1)}, {b2, sizeof(b2)}};
	struct fuse_out_header oh;
	uint8_t body[20], flat[40];
	struct iovec one = {big, 16}, tiny = {big, 15}, dst[4];
	unsigned n;
	size_t len;

	for (unsigned i = 0; i < sizeof(body); i++)
		body[i] = (uint8_t)(i + 1);
	memset(b1, 0xee, sizeof(b1));
	memset(b2, 0xee, sizeof(b2));
	len = fmsg_reply_one(out, 2, 77, body, sizeof(body));
	is_int(len, 36, "reply length header + body");
	memcpy(flat, b1, 10);
	memcpy(flat + 10, b2, 30);
	memcpy(&oh, flat, sizeof(oh));
	ok(oh.len == 36 && oh.error == 0 && oh.unique == 77,
	    "header across split buffers");
	ok(memcmp(flat + 16, body, 20) == 0, "body across split buffers");
	ok(flat[36] == 0xee, "nothing written past the reply");

	memset(big, 0xee, sizeof(big));
	len = fmsg_reply_one(&one, 1, 5, body, sizeof(body));
	memcpy(&oh, big, sizeof(oh));
	ok(len == 16 && oh.len == 16 && oh.error == -EIO,
	    "body too big: EIO reply instead");
	ok(big[16] == 0xee, "no partial body");
	memset(big, 0xee, sizeof(big));
	ok(fmsg_reply_err(&tiny, 1, 5, -ENOENT) == 0 && big[0] == 0xee,
	    "buffer below a header: no reply at all");
	ok(fmsg_reply_one(&tiny, 1, 5, body, 4) == 0, "tiny buffer, body: 0");
	len = fmsg_reply_err(&one, 1, 9, -ENOENT);
	memcpy(&oh, big, sizeof(oh));
	ok(len == 16 && oh.error == -ENOENT && oh.unique == 9, "error reply");
	len = fmsg_reply_err(&one, 1, 9, 5);
	memcpy(&oh, big, sizeof(oh));
	ok(oh.error == -EIO, "positive error mapped to EIO");
	len = fmsg_reply_hdr(out, 2, 3, 24);
	memcpy(flat, b1, 10);
	memcpy(flat + 10, b2, 30);
	memcpy(&oh, flat, sizeof(oh));
	ok(len == 40 && oh.len == 40, "header for placed data");
	len = fmsg_reply_hdr(out, 2, 3, 25);
	memcpy(flat, b1, 10);
	memcpy(flat + 10, b2, 6);
	memcpy(&oh, flat, sizeof(oh));
	ok(len == 16 && oh.error == -EIO, "placed data beyond buffer: EIO");

	ok(fmsg_out_data(out, 2, 100, dst, 4, &n, &len) == 0 && len == 24 &&
		n == 1 && dst[0].iov_base == b2 + 6 && dst[0].iov_len == 24,
	    "read destination clamped, after the header");
	ok(fmsg_out_data(&tiny, 1, 100, dst, 4, &n, &len) == -EINVAL,
	    "read destination without room for a header");
	ok(fmsg_out_data(&one, 1, 100, dst, 4, &n, &len) == 0 && len == 0 &&
		n == 0,
	    "read destination of zero bytes");
}

int
main(void)
{
	test_cursor();
	test_iov();
	test_reply();
	return done_testing();
}
