//! Outbound webhooks, the rules: Standard Webhooks signatures (<https://www.standardwebhooks.com>),
//! the retry schedule, what an endpoint's answer means, and which addresses a webhook may
//! never reach.

use std::net::IpAddr;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The prefix of a signing secret; the rest is the key in base64.
pub const SECRET_PREFIX: &str = "whsec_";

/// A signing secret from 24 random bytes, as shown to the endpoint's owner once.
pub fn new_secret(random: [u8; 24]) -> String {
    format!("{SECRET_PREFIX}{}", STANDARD.encode(random))
}

/// The key a secret names; `None` for a string that is not one.
pub fn secret_key(secret: &str) -> Option<Vec<u8>> {
    STANDARD.decode(secret.strip_prefix(SECRET_PREFIX)?).ok().filter(|key| !key.is_empty())
}

/// The `webhook-signature` header: `v1,<base64 HMAC-SHA256 of "id.timestamp.body">` for
/// each key, space-separated (during a rotation both the new and the old key sign).
pub fn signature(keys: &[Vec<u8>], id: &str, timestamp: i64, body: &[u8]) -> String {
    keys.iter()
        .map(|key| {
            let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes a key of any length");
            mac.update(id.as_bytes());
            mac.update(b".");
            mac.update(timestamp.to_string().as_bytes());
            mac.update(b".");
            mac.update(body);
            format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// How long to wait after each failed attempt: about three days in all, then the delivery
/// is failed (and kept, to redeliver by hand).
pub const RETRY_DELAYS: [Duration; 9] = [
    Duration::from_secs(5),
    Duration::from_secs(5 * 60),
    Duration::from_secs(30 * 60),
    Duration::from_secs(2 * 3600),
    Duration::from_secs(5 * 3600),
    Duration::from_secs(10 * 3600),
    Duration::from_secs(14 * 3600),
    Duration::from_secs(20 * 3600),
    Duration::from_secs(24 * 3600),
];

/// The longest `Retry-After` honoured (a day); longer asks are capped to it.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(24 * 3600);

/// What an attempt came to.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Verdict {
    /// A 2xx: done.
    Delivered,
    /// Try again after this long.
    Retry(Duration),
    /// `410 Gone`: the endpoint asked never to be called again; disable it.
    Gone,
    /// Out of attempts: the delivery is failed (kept for redelivery).
    Failed,
}

/// Judges attempt number `attempt` (from 1) of a delivery retried after each of
/// `schedule`'s delays ([`RETRY_DELAYS`] unless configured): `status` is the answer's (none when the
/// connection failed or timed out; a 3xx is a failure, redirects are not followed),
/// `retry_after` its `Retry-After` (honoured on 429 and 503), `jitter` a number in [0, 1)
/// that spreads retries over ±10% of their delay so failed endpoints are not hit in waves.
pub fn judge(
    schedule: &[Duration],
    attempt: u32,
    status: Option<u16>,
    retry_after: Option<Duration>,
    jitter: f64,
) -> Verdict {
    match status {
        Some(200..=299) => return Verdict::Delivered,
        Some(410) => return Verdict::Gone,
        _ => {}
    }
    let Some(&delay) = schedule.get(attempt.saturating_sub(1) as usize) else {
        return Verdict::Failed;
    };
    let delay = delay.mul_f64(0.9 + 0.2 * jitter.clamp(0.0, 1.0));
    let asked = match status {
        Some(429 | 503) => retry_after.map(|after| after.min(MAX_RETRY_AFTER)),
        _ => None,
    };
    Verdict::Retry(asked.map_or(delay, |asked| asked.max(delay)))
}

/// Whether a webhook may reach `ip`: public unicast addresses only. Private networks,
/// loopback, link-local (cloud metadata services live there), carrier-grade NAT,
/// unspecified, broadcast, multicast and documentation ranges are refused, IPv4 written
/// inside IPv6 as well.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || a == 0
                || (a == 100 && (64..128).contains(&b))
                || (a == 198 && (b == 18 || b == 19))
                || (a == 192 && b == 0 && v4.octets()[2] == 0)
                || a >= 240)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let segments = v6.segments();
            // IPv4-compatible (`::a.b.c.d`), deprecated but still routed by some stacks.
            if segments[..6] == [0; 6] && !v6.is_loopback() && !v6.is_unspecified() {
                return is_public(IpAddr::V4(std::net::Ipv4Addr::from(v6.to_bits() as u32)));
            }
            let first = segments[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
                || (first & 0xffc0) == 0xfec0
                || first == 0x2002
                || first == 0x2001 && v6.segments()[1] == 0x0db8
                || first == 0x64 && v6.segments()[1] == 0xff9b)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_standard_webhooks_v1() {
        // The example of the Standard Webhooks specification.
        let key = secret_key("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let body = br#"{"test": 2432232314}"#;
        assert_eq!(
            signature(std::slice::from_ref(&key), "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
        let both = signature(&[key.clone(), key], "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body);
        assert_eq!(both.split(' ').count(), 2);
    }

    #[test]
    fn secrets_round_trip_and_junk_is_refused() {
        let secret = new_secret([7; 24]);
        assert!(secret.starts_with("whsec_"));
        assert_eq!(secret_key(&secret).unwrap(), vec![7; 24]);
        for junk in ["", "whsec_", "whsec_!!", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"] {
            assert_eq!(secret_key(junk), None, "{junk}");
        }
    }

    #[test]
    fn retries_follow_the_schedule_for_about_three_days_then_fail() {
        let mut total = Duration::ZERO;
        for attempt in 1..=RETRY_DELAYS.len() as u32 {
            match judge(&RETRY_DELAYS, attempt, Some(500), None, 0.5) {
                Verdict::Retry(delay) => {
                    assert_eq!(delay, RETRY_DELAYS[attempt as usize - 1]);
                    total += delay;
                }
                other => panic!("attempt {attempt}: {other:?}"),
            }
        }
        assert_eq!(judge(&RETRY_DELAYS, RETRY_DELAYS.len() as u32 + 1, Some(500), None, 0.5), Verdict::Failed);
        assert!((Duration::from_secs(70 * 3600)..Duration::from_secs(90 * 3600)).contains(&total), "{total:?}");
        // Jitter stays within ±10%.
        let low = judge(&RETRY_DELAYS, 1, None, None, 0.0);
        let high = judge(&RETRY_DELAYS, 1, None, None, 0.999);
        assert_eq!(low, Verdict::Retry(Duration::from_millis(4500)));
        assert!(
            matches!(high, Verdict::Retry(d) if d < Duration::from_millis(5500) && d > Duration::from_millis(5400))
        );
    }

    #[test]
    fn answers_mean_what_the_spec_says() {
        assert_eq!(judge(&RETRY_DELAYS, 1, Some(204), None, 0.5), Verdict::Delivered);
        assert_eq!(judge(&RETRY_DELAYS, 3, Some(410), None, 0.5), Verdict::Gone);
        // Redirects are failures, retried.
        assert!(matches!(judge(&RETRY_DELAYS, 1, Some(301), None, 0.5), Verdict::Retry(_)));
        // Retry-After is honoured on 429 and 503 when longer than the schedule, capped at a day.
        let hour = Duration::from_secs(3600);
        assert_eq!(judge(&RETRY_DELAYS, 1, Some(429), Some(hour), 0.5), Verdict::Retry(hour));
        assert_eq!(
            judge(&RETRY_DELAYS, 1, Some(503), Some(Duration::from_secs(9 * 86400)), 0.5),
            Verdict::Retry(MAX_RETRY_AFTER)
        );
        assert_eq!(
            judge(&RETRY_DELAYS, 2, Some(429), Some(Duration::from_secs(1)), 0.5),
            Verdict::Retry(RETRY_DELAYS[1])
        );
        // Elsewhere it is not.
        assert_eq!(judge(&RETRY_DELAYS, 1, Some(500), Some(hour), 0.5), Verdict::Retry(RETRY_DELAYS[0]));
    }

    #[test]
    fn only_public_unicast_addresses_are_reachable() {
        for ip in ["93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c", "8.8.8.8", "::ffff:8.8.8.8"] {
            assert!(is_public(ip.parse().unwrap()), "{ip}");
        }
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "198.18.0.1",
            "192.0.2.1",
            "::1",
            "::",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "2001:db8::1",
            "64:ff9b::7f00:1",
            "192.0.0.8",
            "fec0::1",
            "::127.0.0.1",
            "::10.0.0.1",
            "2002:7f00:1::1",
        ] {
            assert!(!is_public(ip.parse().unwrap()), "{ip}");
        }
    }
}
