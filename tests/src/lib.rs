//! The black-box test harness: starts the real `konsult` binary on a free loopback port with its
//! own data folder, and drives it as clients do, over HTTP and WebSocket.

pub mod http;
pub mod portal;
pub mod server;
pub mod ws;

pub use http::{HttpResponse, http_request};
pub use server::{Server, ServerOptions};
pub use ws::WsClient;
