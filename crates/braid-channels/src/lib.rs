//! Channel adapters: each turns what a channel delivers into an
//! [`braid_db::placement::Inbound`] for placement, and (later) Braid's outbound messages
//! into what the channel sends: email, chat, connectors (`connector`, whose replies go back
//! as signed callbacks), and outbound webhooks (`webhooks`, signed
//! POSTs that never reach private addresses).
//!
//! Adapters hold the channel's rules (what a Message-ID is, when a mail is an
//! auto-reply); HTTP stays in braid-api and storage in braid-db.

pub mod blobs;
pub mod chat;
pub mod connector;
pub mod email;
#[doc(hidden)]
pub mod fuzzing;
pub mod web_form;
pub mod webhooks;
