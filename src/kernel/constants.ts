/**
 * rtnetlink numbers used by the kernel route installer (from linux/netlink.h, rtnetlink.h,
 * lwtunnel.h, if_link.h). Only what tsbond sends or reads.
 */

export const NETLINK_ROUTE = 0;

// Netlink message header (struct nlmsghdr, 16 bytes) and generic types.
export const NLMSG_HDRLEN = 16;
export const NLMSG_NOOP = 1;
export const NLMSG_ERROR = 2;
export const NLMSG_DONE = 3;
export const NLMSG_OVERRUN = 4;

export const NLM_F_REQUEST = 0x1;
export const NLM_F_MULTI = 0x2;
export const NLM_F_ACK = 0x4;
export const NLM_F_DUMP_INTR = 0x10;
export const NLM_F_ROOT = 0x100;
export const NLM_F_MATCH = 0x200;
export const NLM_F_DUMP = NLM_F_ROOT | NLM_F_MATCH;
export const NLM_F_REPLACE = 0x100;
export const NLM_F_EXCL = 0x200;
export const NLM_F_CREATE = 0x400;

// rtnetlink message types.
export const RTM_NEWLINK = 16;
export const RTM_DELLINK = 17;
export const RTM_GETLINK = 18;
export const RTM_NEWROUTE = 24;
export const RTM_DELROUTE = 25;
export const RTM_GETROUTE = 26;
export const RTM_NEWNEXTHOP = 104;
export const RTM_DELNEXTHOP = 105;
export const RTM_GETNEXTHOP = 106;

// Multicast groups (numbers for NETLINK_ADD_MEMBERSHIP).
export const RTNLGRP_LINK = 1;
export const RTNLGRP_IPV4_ROUTE = 7;
export const RTNLGRP_IPV6_ROUTE = 11;
export const RTNLGRP_NEXTHOP = 32;

// struct rtmsg (12 bytes).
export const RTMSG_LEN = 12;
export const AF_UNSPEC = 0;
export const AF_INET = 2;
export const AF_INET6 = 10;
export const RT_TABLE_UNSPEC = 0;
/** rtm_table of a dumped route whose table id is above 255 (the real id is in RTA_TABLE). */
export const RT_TABLE_COMPAT = 252;
export const RT_SCOPE_UNIVERSE = 0;
export const RT_SCOPE_NOWHERE = 255;
export const RTN_UNSPEC = 0;
export const RTN_UNICAST = 1;
export const RTM_F_CLONED = 0x200;

// Route attributes.
export const RTA_DST = 1;
export const RTA_OIF = 4;
export const RTA_GATEWAY = 5;
export const RTA_PRIORITY = 6;
export const RTA_MULTIPATH = 9;
export const RTA_TABLE = 15;
export const RTA_ENCAP_TYPE = 21;
export const RTA_ENCAP = 22;
export const RTA_NH_ID = 30;
export const NLA_F_NESTED = 0x8000;
export const NLA_TYPE_MASK = 0x3fff;

/** struct rtnexthop: len u16, flags u8, hops u8, ifindex i32. */
export const RTNH_LEN = 8;

// Nexthop objects: struct nhmsg (8 bytes) and attributes (linux/nexthop.h).
export const NHMSG_LEN = 8;
export const NHA_ID = 1;
export const NHA_GROUP = 2;
export const NHA_BLACKHOLE = 4;
export const NHA_OIF = 5;
export const NHA_GATEWAY = 6;
export const NHA_ENCAP_TYPE = 7;
export const NHA_ENCAP = 8;
/** struct nexthop_grp: id u32, weight u8 (weight - 1), resvd1 u8, resvd2 u16. */
export const NEXTHOP_GRP_LEN = 8;

export const LWTUNNEL_ENCAP_IP6 = 4;
export const LWTUNNEL_IP6_DST = 2;

// struct ifinfomsg (16 bytes) and link attributes.
export const IFINFOMSG_LEN = 16;
export const IFLA_IFNAME = 3;
export const IFF_UP = 0x1;

/** The route protocol tsbond (and Go MetalBond) marks its kernel routes with. */
export const METALBOND_RT_PROTO = 254;

/**
 * First id tsbond gives its nexthop objects (0x4d420001, "MB"): far from the small ids people and
 * other daemons usually pick. Ids already taken are skipped.
 */
export const NEXTHOP_ID_BASE = 0x4d420001;

/** The kernel's default metric for IPv6 routes (none given) and IPv4 routes. */
export const IPV6_DEFAULT_PRIORITY = 1024;
export const IPV4_DEFAULT_PRIORITY = 0;

/** Errors after which the same request may succeed later. */
export const TRANSIENT = new Set(['ENOBUFS', 'EBUSY', 'EAGAIN', 'EINTR', 'ENOMEM']);
/** Errors that mean the tunnel device is down or gone: writes wait for it. */
export const DEVICE_TROUBLE = new Set(['ENETDOWN', 'ENODEV']);
