/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vhost-user wire format (docs/interop/vhost-user.rst in QEMU): request
 * codes, header flags, feature bits and payload layouts, little-endian,
 * packed as on the wire. Every struct's size is asserted: a payload is
 * accepted only when its size is exactly the one listed here.
 *
 * Changelog:
 *   1: initial set: features, owner, memory table (+ mem slots), vrings,
 *      queue number, reset.
 */
#ifndef PHX_VU_PROTO_H
#define PHX_VU_PROTO_H

#include <stdint.h>

#include "compiler.h"

enum vu_request {
	VU_REQ_NONE = 0,
	VU_REQ_GET_FEATURES = 1,
	VU_REQ_SET_FEATURES = 2,
	VU_REQ_SET_OWNER = 3,
	VU_REQ_RESET_OWNER = 4,
	VU_REQ_SET_MEM_TABLE = 5,
	VU_REQ_SET_LOG_BASE = 6,
	VU_REQ_SET_LOG_FD = 7,
	VU_REQ_SET_VRING_NUM = 8,
	VU_REQ_SET_VRING_ADDR = 9,
	VU_REQ_SET_VRING_BASE = 10,
	VU_REQ_GET_VRING_BASE = 11,
	VU_REQ_SET_VRING_KICK = 12,
	VU_REQ_SET_VRING_CALL = 13,
	VU_REQ_SET_VRING_ERR = 14,
	VU_REQ_GET_PROTOCOL_FEATURES = 15,
	VU_REQ_SET_PROTOCOL_FEATURES = 16,
	VU_REQ_GET_QUEUE_NUM = 17,
	VU_REQ_SET_VRING_ENABLE = 18,
	VU_REQ_SEND_RARP = 19,
	VU_REQ_NET_SET_MTU = 20,
	VU_REQ_SET_BACKEND_REQ_FD = 21,
	VU_REQ_IOTLB_MSG = 22,
	VU_REQ_SET_VRING_ENDIAN = 23,
	VU_REQ_GET_CONFIG = 24,
	VU_REQ_SET_CONFIG = 25,
	VU_REQ_GET_INFLIGHT_FD = 31,
	VU_REQ_SET_INFLIGHT_FD = 32,
	VU_REQ_RESET_DEVICE = 34,
	VU_REQ_GET_MAX_MEM_SLOTS = 36,
	VU_REQ_ADD_MEM_REG = 37,
	VU_REQ_REM_MEM_REG = 38,
	_VU_REQ_MAX = 64,
};

/* Header flags. */
#define VU_FLAG_VERSION	   0x1u
#define VU_FLAG_VERSION_MASK 0x3u
#define VU_FLAG_REPLY	   (1u << 2)
#define VU_FLAG_NEED_REPLY (1u << 3)

/* Virtio and vhost feature bits. */
#define VU_F_INDIRECT_DESC     28
#define VU_F_EVENT_IDX	       29
#define VU_F_PROTOCOL_FEATURES 30 /* VHOST_USER_F_PROTOCOL_FEATURES */
#define VU_F_VERSION_1	       32

/* Protocol feature bits. */
#define VU_PF_MQ		   0
#define VU_PF_LOG_SHMFD		   1
#define VU_PF_RARP		   2
#define VU_PF_REPLY_ACK		   3
#define VU_PF_CONFIG		   9
#define VU_PF_RESET_DEVICE	   13
#define VU_PF_CONFIGURE_MEM_SLOTS  15

/* SET_VRING_KICK/CALL/ERR u64 payload: index, and "no fd" flag. */
#define VU_VRING_IDX_MASK 0xffu
#define VU_VRING_NOFD	  (1u << 8)

/* SET_MEM_TABLE carries at most this many regions (and as many fds). */
#define VU_MEM_BASELINE_NREGIONS 8

#define VU_HDR_SIZE 12

struct vu_hdr {
	uint32_t request;
	uint32_t flags;
	uint32_t size;		/* payload bytes that follow */
} __attribute__((packed));
ASSERT_SIZE(struct vu_hdr, VU_HDR_SIZE);

struct vu_vring_state {
	uint32_t index;
	uint32_t num;
} __attribute__((packed));
ASSERT_SIZE(struct vu_vring_state, 8);

struct vu_vring_addr {
	uint32_t index;
	uint32_t flags;		/* VHOST_VRING_F_LOG (bit 0): refused */
	uint64_t desc_uaddr;
	uint64_t used_uaddr;
	uint64_t avail_uaddr;
	uint64_t log_gaddr;
} __attribute__((packed));
ASSERT_SIZE(struct vu_vring_addr, 40);

struct vu_mem_region {
	uint64_t gpa;
	uint64_t size;
	uint64_t uaddr;
	uint64_t mmap_offset;
} __attribute__((packed));
ASSERT_SIZE(struct vu_mem_region, 32);

/* SET_MEM_TABLE: 8 + 32 * nregions bytes exactly, nregions fds. */
struct vu_mem_table {
	uint32_t nregions;
	uint32_t padding;
	struct vu_mem_region regions[VU_MEM_BASELINE_NREGIONS];
} __attribute__((packed));
ASSERT_SIZE(struct vu_mem_table, 8 + 32 * VU_MEM_BASELINE_NREGIONS);

/* ADD_MEM_REG (one fd) and REM_MEM_REG (zero or one fd). */
struct vu_mem_reg {
	uint64_t padding;
	struct vu_mem_region region;
} __attribute__((packed));
ASSERT_SIZE(struct vu_mem_reg, 40);

#endif
