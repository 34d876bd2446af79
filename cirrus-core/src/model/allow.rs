//! Address allow lists (CIDR blocks).

use std::net::IpAddr;
use std::str::FromStr;

/// Source addresses allowed to use something (the edge's `/metrics`, seed:
/// `NGX_METRICS_ALLOW`; zone transfers from the DNS master): addresses and
/// CIDR blocks. The default allows loopback only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowList(Vec<(IpAddr, u8)>);

impl Default for AllowList {
    fn default() -> Self {
        Self(vec![
            (IpAddr::from([127, 0, 0, 1]), 8),
            (IpAddr::from([0u16, 0, 0, 0, 0, 0, 0, 1]), 128),
        ])
    }
}

impl AllowList {
    /// True when `ip` is in one of the blocks.
    pub fn allows(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        self.0.iter().any(|(net, bits)| match (net, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => prefix_eq(&n.octets(), &a.octets(), *bits),
            (IpAddr::V6(n), IpAddr::V6(a)) => prefix_eq(&n.octets(), &a.octets(), *bits),
            _ => false,
        })
    }
}

fn prefix_eq(a: &[u8], b: &[u8], bits: u8) -> bool {
    let bits = usize::from(bits);
    let (whole, rest) = (bits / 8, bits % 8);
    if a[..whole] != b[..whole] {
        return false;
    }
    rest == 0 || {
        let mask = 0xffu8 << (8 - rest);
        a[whole] & mask == b[whole] & mask
    }
}

/// Parses `10.0.0.0/8, 127.0.0.1, ::1` (empty: nobody).
impl FromStr for AllowList {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let mut blocks = Vec::new();
        for item in s.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let (addr, bits) = match item.split_once('/') {
                Some((a, b)) => (a, Some(b)),
                None => (item, None),
            };
            let ip: IpAddr = addr
                .parse()
                .map_err(|_| format!("{item:?} is not an address or CIDR block"))?;
            let max = if ip.is_ipv4() { 32 } else { 128 };
            let bits = match bits {
                Some(b) => b
                    .parse::<u8>()
                    .ok()
                    .filter(|b| *b <= max)
                    .ok_or_else(|| format!("{item:?}: prefix must be 0-{max}"))?,
                None => max,
            };
            blocks.push((ip, bits));
        }
        Ok(Self(blocks))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allow_lists_match_addresses_and_blocks() {
        let l: AllowList = "10.0.0.0/8, 192.0.2.7, 2001:db8::/32".parse().expect("list");
        for ok in ["10.1.2.3", "192.0.2.7", "2001:db8::1", "::ffff:10.9.9.9"] {
            assert!(l.allows(ok.parse().expect("ip")), "{ok}");
        }
        for no in ["11.0.0.1", "192.0.2.8", "2001:db9::1", "127.0.0.1"] {
            assert!(!l.allows(no.parse().expect("ip")), "{no}");
        }
        assert!(AllowList::default().allows("127.0.0.1".parse().expect("ip")));
        assert!(!AllowList::default().allows("192.0.2.1".parse().expect("ip")));
        assert!("10.0.0.0/33".parse::<AllowList>().is_err());
        assert!("nope".parse::<AllowList>().is_err());
        assert!(
            !"".parse::<AllowList>()
                .expect("empty")
                .allows("127.0.0.1".parse().expect("ip"))
        );
    }
}
