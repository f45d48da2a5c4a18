//! School leases: one owner per school at a time, under an epoch that grows with every new
//! owner, and the fencing that makes a stale epoch useless. Every step is one Lua script, so
//! each is atomic in Redis; time is Redis's own (key expiry), never a node's clock.
//!
//! A lease is the key `lease:<school>` holding `"<epoch> <node>"` with an expiry; the epoch
//! comes from `epoch:<school>`, a counter that never expires and is incremented once for
//! every acquisition. A [`Fence`] is the triple a node acts under; it is current exactly while
//! the lease key holds its `"<epoch> <node>"`.

use crate::registry::millis;
use crate::{ClusterError, Keys, NodeId, RedisLink, SchoolId};
use redis::Script;
use std::sync::LazyLock;
use std::time::Duration;

/// A lease's generation: 1 for a school's first owner, one more for each owner after.
pub type Epoch = u64;

/// The right to act for a school: valid while the school's lease still holds this node and
/// epoch. Every write for the school carries it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Fence {
    pub school: SchoolId,
    pub node: NodeId,
    pub epoch: Epoch,
}

impl Fence {
    /// The lease key's value while this fence is current.
    fn lease_value(&self) -> String {
        format!("{} {}", self.epoch, self.node.0)
    }
}

/// Who holds a school's lease now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Owner {
    pub node: NodeId,
    pub epoch: Epoch,
}

impl Owner {
    fn parse(value: &str) -> Result<Owner, ClusterError> {
        let malformed = || ClusterError::Malformed {
            what: "lease",
            reason: format!("expected \"<epoch> <node>\", found {value:?}"),
        };
        let (epoch, node) = value.split_once(' ').ok_or_else(malformed)?;
        Ok(Owner {
            node: NodeId(node.to_string()),
            epoch: epoch.parse().map_err(|_| malformed())?,
        })
    }
}

/// The outcome of an attempt to acquire a lease.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Acquired {
    /// The school was free (never owned, released, or its lease expired): it is ours now.
    Won(Fence),
    /// Someone holds it (perhaps this very node under an earlier epoch).
    Held(Owner),
}

/// Takes a free lease under a new epoch; reports the holder of a taken one.
static ACQUIRE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local current = redis.call('GET', KEYS[1])
if current then return {0, current} end
local epoch = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], epoch .. ' ' .. ARGV[1], 'PX', ARGV[2])
return {1, tostring(epoch)}
",
    )
});

/// Extends each lease still held as given; one reply, 1 or 0, per lease.
static RENEW: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local renewed = {}
for i, key in ipairs(KEYS) do
  if redis.call('GET', key) == ARGV[i + 1] then
    redis.call('PEXPIRE', key, ARGV[1])
    renewed[i] = 1
  else
    renewed[i] = 0
  end
end
return renewed
",
    )
});

/// Deletes a lease only if it is still held as given.
static RELEASE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
",
    )
});

/// Writes a value only while the lease is held as given.
static WRITE_IF_CURRENT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[2], ARGV[2])
  return 1
end
return 0
",
    )
});

/// Raises an epoch counter to at least a floor, never lowers it.
static RAISE_EPOCH: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
local floor = tonumber(ARGV[1])
if current < floor then
  redis.call('SET', KEYS[1], floor)
  return floor
end
return current
",
    )
});

/// The leases of one cluster's schools.
#[derive(Clone, Debug)]
pub struct Leases {
    /// The connection to Redis.
    link: RedisLink,
    /// Where leases and epochs live.
    keys: Keys,
    /// How long a lease lives after its acquisition or last renewal.
    lease: Duration,
}

impl Leases {
    pub fn new(link: RedisLink, keys: Keys, lease: Duration) -> Leases {
        Leases { link, keys, lease }
    }

    /// How long a lease lives unless renewed.
    pub fn duration(&self) -> Duration {
        self.lease
    }

    /// Takes `school` for `node` if nobody holds it, under the next epoch.
    pub async fn acquire(
        &self,
        school: &SchoolId,
        node: &NodeId,
    ) -> Result<Acquired, ClusterError> {
        let mut call = ACQUIRE.prepare_invoke();
        call.key(self.keys.lease(school))
            .key(self.keys.epoch(school))
            .arg(&node.0)
            .arg(millis(self.lease));
        let (won, value): (i64, String) = self.link.invoke(&call).await?;
        if won == 1 {
            let epoch = value.parse().map_err(|_| ClusterError::Malformed {
                what: "epoch",
                reason: value.clone(),
            })?;
            Ok(Acquired::Won(Fence {
                school: school.clone(),
                node: node.clone(),
                epoch,
            }))
        } else {
            Ok(Acquired::Held(Owner::parse(&value)?))
        }
    }

    /// Extends the lease of `fence` by a full lease; `false` if it is no longer held so.
    pub async fn renew(&self, fence: &Fence) -> Result<bool, ClusterError> {
        Ok(self.renew_all(std::slice::from_ref(fence)).await?[0])
    }

    /// Extends every lease in `fences` that is still held so, in one round trip; the answer
    /// says, fence by fence, which were.
    pub async fn renew_all(&self, fences: &[Fence]) -> Result<Vec<bool>, ClusterError> {
        if fences.is_empty() {
            return Ok(Vec::new());
        }
        let mut call = RENEW.prepare_invoke();
        call.arg(millis(self.lease));
        for fence in fences {
            call.key(self.keys.lease(&fence.school))
                .arg(fence.lease_value());
        }
        let renewed: Vec<i64> = self.link.invoke(&call).await?;
        if renewed.len() != fences.len() {
            return Err(ClusterError::Malformed {
                what: "renewal",
                reason: format!("{} answers for {} leases", renewed.len(), fences.len()),
            });
        }
        Ok(renewed.into_iter().map(|r| r == 1).collect())
    }

    /// Gives the school up at once so another node may take it; `false` if it was not held
    /// under `fence` any more.
    pub async fn release(&self, fence: &Fence) -> Result<bool, ClusterError> {
        let mut call = RELEASE.prepare_invoke();
        call.key(self.keys.lease(&fence.school))
            .arg(fence.lease_value());
        let released: i64 = self.link.invoke(&call).await?;
        Ok(released == 1)
    }

    /// Who holds `school` now, if anyone.
    pub async fn owner(&self, school: &SchoolId) -> Result<Option<Owner>, ClusterError> {
        Ok(self.owners(std::slice::from_ref(school)).await?.remove(0))
    }

    /// Who holds each of `schools` now, in one round trip.
    pub async fn owners(&self, schools: &[SchoolId]) -> Result<Vec<Option<Owner>>, ClusterError> {
        if schools.is_empty() {
            return Ok(Vec::new());
        }
        let mut mget = redis::cmd("MGET");
        for school in schools {
            mget.arg(self.keys.lease(school));
        }
        let values: Vec<Option<String>> = self.link.query(&mget).await?;
        values
            .into_iter()
            .map(|v| v.as_deref().map(Owner::parse).transpose())
            .collect()
    }

    /// The epoch of the school's latest owner, current or past; 0 if it never had one.
    pub async fn latest_epoch(&self, school: &SchoolId) -> Result<Epoch, ClusterError> {
        let epoch: Option<u64> = self
            .link
            .query(redis::cmd("GET").arg(self.keys.epoch(school)))
            .await?;
        Ok(epoch.unwrap_or(0))
    }

    /// Raises the school's epoch counter to at least `floor` and returns the counter. The
    /// database keeps each school's latest epoch too; if Redis lost its data (a restart
    /// without persistence), the counter restarts below it and a new owner would be refused
    /// by the database for good. That owner releases its lease, raises the counter to the
    /// database's epoch, and acquires again under an epoch above it.
    pub async fn raise_epoch(
        &self,
        school: &SchoolId,
        floor: Epoch,
    ) -> Result<Epoch, ClusterError> {
        let mut call = RAISE_EPOCH.prepare_invoke();
        call.key(self.keys.epoch(school)).arg(floor);
        self.link.invoke(&call).await
    }

    /// Whether `fence` is still current: its node holds the school under its epoch.
    pub async fn still_holds(&self, fence: &Fence) -> Result<bool, ClusterError> {
        let value: Option<String> = self
            .link
            .query(redis::cmd("GET").arg(self.keys.lease(&fence.school)))
            .await?;
        Ok(value.as_deref() == Some(fence.lease_value().as_str()))
    }

    /// Sets `key` to `value` only if `fence` is current, atomically; `false` when refused.
    /// For small state a school's owner keeps in Redis. `key` is used as given: keep it
    /// under the cluster's prefix.
    pub async fn write_if_current(
        &self,
        fence: &Fence,
        key: &str,
        value: &[u8],
    ) -> Result<bool, ClusterError> {
        let mut call = WRITE_IF_CURRENT.prepare_invoke();
        call.key(self.keys.lease(&fence.school))
            .key(key)
            .arg(fence.lease_value())
            .arg(value);
        let written: i64 = self.link.invoke(&call).await?;
        Ok(written == 1)
    }
}
