//! One connection to Redis shared by a node's callers: commands are pipelined on it, every
//! reply has a deadline, and a broken connection is replaced on the next command, so a brief
//! outage of Redis costs the commands sent during it and nothing after.

use crate::ClusterError;
use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, Client, Cmd, FromRedisValue, ScriptInvocation};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A cheap-to-clone handle on one multiplexed connection that reconnects when it breaks.
#[derive(Clone)]
pub struct RedisLink {
    /// Opens connections; holds the parsed URL.
    client: Client,
    /// Deadlines for connecting and for each reply.
    config: AsyncConnectionConfig,
    /// Longest wait for a reply, also applied around connecting.
    reply_timeout: Duration,
    /// The connection in use; `None` after a failure until the next command reconnects.
    /// Locked only to clone or replace it, never across an `.await`.
    current: Arc<Mutex<Option<MultiplexedConnection>>>,
}

impl std::fmt::Debug for RedisLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisLink")
            .field("reply_timeout", &self.reply_timeout)
            .finish_non_exhaustive()
    }
}

impl RedisLink {
    /// A link to the Redis at `url` (`redis://host:port/db`); nothing is dialled until the
    /// first command.
    pub fn new(url: &str, reply_timeout: Duration) -> Result<RedisLink, ClusterError> {
        use redis::IntoConnectionInfo;
        // Without TCP_NODELAY a small write waits for the ACK of the one before (Nagle), and
        // loopback's delayed ACK can hold a bridged frame for tens of milliseconds.
        let info = url.into_connection_info()?;
        let tcp = info.tcp_settings().clone().set_nodelay(true);
        let client = Client::open(info.set_tcp_settings(tcp))?;
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(reply_timeout))
            .set_response_timeout(Some(reply_timeout));
        Ok(RedisLink {
            client,
            config,
            reply_timeout,
            current: Arc::new(Mutex::new(None)),
        })
    }

    /// The client, for connections of their own (pub/sub needs one).
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The longest wait for one reply.
    pub fn reply_timeout(&self) -> Duration {
        self.reply_timeout
    }

    /// Runs one command.
    pub async fn query<T: FromRedisValue>(&self, cmd: &Cmd) -> Result<T, ClusterError> {
        let mut conn = self.connection().await?;
        let result = self.deadline(cmd.query_async(&mut conn)).await;
        self.settle(result)
    }

    /// Runs several commands in one round trip, in order; one reply for each.
    pub async fn query_pipeline<T: FromRedisValue>(
        &self,
        pipe: &redis::Pipeline,
    ) -> Result<T, ClusterError> {
        let mut conn = self.connection().await?;
        let result = self.deadline(pipe.query_async(&mut conn)).await;
        self.settle(result)
    }

    /// Runs a Lua script by its SHA1, loading it first if Redis does not know it yet.
    pub async fn invoke<T: FromRedisValue>(
        &self,
        script: &ScriptInvocation<'_>,
    ) -> Result<T, ClusterError> {
        let mut conn = self.connection().await?;
        let result = self.deadline(script.invoke_async(&mut conn)).await;
        self.settle(result)
    }

    async fn deadline<T>(
        &self,
        future: impl Future<Output = redis::RedisResult<T>>,
    ) -> Result<T, ClusterError> {
        match tokio::time::timeout(self.reply_timeout, future).await {
            Ok(result) => Ok(result?),
            Err(_) => Err(ClusterError::Timeout(self.reply_timeout)),
        }
    }

    /// Forgets the connection after a failure that may have broken it.
    fn settle<T>(&self, result: Result<T, ClusterError>) -> Result<T, ClusterError> {
        let broken = match &result {
            Ok(_) => false,
            Err(ClusterError::Redis(e)) => {
                e.is_io_error()
                    || e.is_timeout()
                    || e.is_connection_dropped()
                    || e.is_connection_refusal()
                    || e.is_unrecoverable_error()
            }
            Err(_) => true,
        };
        if broken {
            *self.lock() = None;
        }
        result
    }

    async fn connection(&self) -> Result<MultiplexedConnection, ClusterError> {
        if let Some(conn) = self.lock().clone() {
            return Ok(conn);
        }
        // Two callers may dial at once; the later connection replaces the earlier, which
        // closes when its last clone is dropped.
        let conn = self
            .deadline(
                self.client
                    .get_multiplexed_async_connection_with_config(&self.config),
            )
            .await?;
        *self.lock() = Some(conn.clone());
        Ok(conn)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<MultiplexedConnection>> {
        // A panic while the lock is held cannot leave the Option half-written.
        self.current
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
