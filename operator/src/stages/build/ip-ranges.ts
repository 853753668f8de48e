/**
 * The addresses a build may never make kustomize (or git under it) connect to: loopback, link-local (which
 * holds the cloud metadata services), unspecified, the other well-known metadata addresses, and the cluster's
 * own service network when the operator is told its CIDRs. Matching is `node:net`'s `BlockList`, which also
 * matches IPv4-mapped IPv6 forms (`::ffff:127.0.0.1`) against the IPv4 ranges.
 *
 * @module
 */
import * as net from "node:net"

/** A named range: the name is what a refusal says ("loopback", "link-local", …). */
interface Range {
  readonly name: string
  readonly address: string
  readonly prefix: number
  readonly family: "ipv4" | "ipv6"
}

/** The ranges that are always refused. */
const fixedRanges: ReadonlyArray<Range> = [
  // "This network": Linux connects 0.0.0.0 to the local host.
  { name: "unspecified", address: "0.0.0.0", prefix: 8, family: "ipv4" },
  { name: "loopback", address: "127.0.0.0", prefix: 8, family: "ipv4" },
  // 169.254.169.254 (AWS, GCP, Azure, OpenStack metadata) is in here.
  { name: "link-local", address: "169.254.0.0", prefix: 16, family: "ipv4" },
  { name: "metadata", address: "100.100.100.200", prefix: 32, family: "ipv4" }, // Alibaba Cloud
  { name: "unspecified", address: "::", prefix: 128, family: "ipv6" },
  { name: "loopback", address: "::1", prefix: 128, family: "ipv6" },
  // IPv4-compatible (deprecated) forms embed an IPv4 address without the ::ffff: marker.
  { name: "IPv4-compatible", address: "::", prefix: 96, family: "ipv6" },
  { name: "link-local", address: "fe80::", prefix: 10, family: "ipv6" },
  { name: "metadata", address: "fd00:ec2::254", prefix: 128, family: "ipv6" }, // AWS over IPv6
]

/** Parses `a.b.c.d/n` or `x::y/n`; undefined when it is not a CIDR. */
export const parseCidr = (cidr: string): Omit<Range, "name"> | undefined => {
  const slash = cidr.indexOf("/")
  if (slash < 0) return undefined
  const address = cidr.slice(0, slash)
  const bits = cidr.slice(slash + 1)
  const version = net.isIP(address)
  if (version === 0 || !/^\d{1,3}$/.test(bits)) return undefined
  const prefix = Number(bits)
  if (prefix > (version === 4 ? 32 : 128)) return undefined
  return { address, prefix, family: version === 4 ? "ipv4" : "ipv6" }
}

/** The CIDRs of `cidrs` that do not parse (for validating a flag before use). */
export const invalidCidrs = (cidrs: ReadonlyArray<string>) => cidrs.filter((c) => parseCidr(c) === undefined)

/** Decides whether an address is one a build must not reach. */
export interface AddressPolicy {
  /** The name of the range `ip` falls in ("loopback", "service network", …), or undefined when allowed. */
  readonly refused: (ip: string) => string | undefined
}

/**
 * The policy with the fixed ranges plus `serviceCidrs` (the cluster's service network; default none).
 * Throws a `TypeError` naming the first CIDR that does not parse: validate flags with {@link invalidCidrs}.
 */
export const makeAddressPolicy = (serviceCidrs: ReadonlyArray<string> = []): AddressPolicy => {
  const service: Range[] = serviceCidrs.map((c) => {
    const parsed = parseCidr(c)
    if (parsed === undefined) throw new TypeError(`invalid service network CIDR '${c}'`)
    return { name: "service network", ...parsed }
  })
  const lists = [...fixedRanges, ...service].map((r) => {
    const list = new net.BlockList()
    list.addSubnet(r.address, r.prefix, r.family)
    return { name: r.name, list }
  })
  return {
    refused: (ip) => {
      const version = net.isIP(ip)
      if (version === 0) return "not an IP address"
      const family = version === 4 ? "ipv4" : "ipv6"
      return lists.find((l) => l.list.check(ip, family))?.name
    },
  }
}
