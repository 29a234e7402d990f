//! Channel adapters: each turns what a channel delivers into an
//! [`braid_db::placement::Inbound`] for placement, and (later) Braid's outbound messages
//! into what the channel sends. Email first; chat, web forms and connectors follow.
//!
//! Adapters hold the channel's rules (what a Message-ID is, when a mail is an
//! auto-reply); HTTP stays in braid-api and storage in braid-db.

pub mod blobs;
pub mod chat;
pub mod email;
#[doc(hidden)]
pub mod fuzzing;
