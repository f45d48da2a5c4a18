//! A token bucket per connection: a sustained rate with a burst above it.

use std::time::Instant;

/// Tokens refill at `rate` per second up to `burst`; each message takes one.
#[derive(Debug)]
pub struct TokenBucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
    /// Messages refused in a row; reset by the first one allowed.
    pub refused_in_row: u32,
}

impl TokenBucket {
    pub fn new(rate: u32, burst: u32, now: Instant) -> TokenBucket {
        let burst = f64::from(burst.max(1));
        TokenBucket {
            rate: f64::from(rate),
            burst,
            tokens: burst,
            last: now,
            refused_in_row: 0,
        }
    }

    /// Takes a token if one is there.
    pub fn allow(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            self.refused_in_row = 0;
            true
        } else {
            self.refused_in_row += 1;
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn burst_then_rate() {
        let t0 = Instant::now();
        let mut bucket = TokenBucket::new(10, 5, t0);
        assert_eq!((0..8).filter(|_| bucket.allow(t0)).count(), 5);
        assert_eq!(bucket.refused_in_row, 3);
        let t1 = t0 + Duration::from_millis(200);
        assert_eq!((0..8).filter(|_| bucket.allow(t1)).count(), 2);
        let t2 = t1 + Duration::from_secs(60);
        assert_eq!((0..8).filter(|_| bucket.allow(t2)).count(), 5);
    }
}
